// Package extsort is an external merge sort of (key, value) records: a
// bounded memory buffer that is sorted and written to a run file when it is
// full, and a k-way merge of the runs that yields every record in order.
// Memory stays bounded however many records are sorted, so a program that
// must reorder tens of millions of records (mboxconv export's records, the
// reverse-ACL rows of a bulk-built leveldb registry) does not grow with N.
//
// Source of truth: this package defines its run file format itself (a run
// is a sequence of records, each uvarint key length, uvarint value length,
// key, value; sorted by the caller's order). Runs are temporary: they live
// only for one sort and are never read by another program version.
//
// Ties: records with equal keys come out in the order they were added
// (Sorter), or in run order across runs and file order within one (Merger):
// the sort is stable.
package extsort
