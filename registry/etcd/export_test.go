package etcd

// SetPageSize sets the page size of the store's paged reads.
func SetPageSize(s *Store, n int64) { s.pageSize = n }

// Counted returns how many keys etcd counted for the store's paged reads.
func Counted(s *Store) int64 { return s.counted.Load() }

// GroupStats tells the tests how the group commit went: transactions of
// two or more writes, the writes in them, and those that failed.
func GroupStats(s *Store) (groups, grouped, failed int64) {
	return s.group.groups.Load(), s.group.grouped.Load(), s.group.failed.Load()
}
