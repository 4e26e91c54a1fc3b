package etcd

import "time"

// SetPageSize sets the page size of the store's paged reads.
func SetPageSize(s *Store, n int64) { s.pageSize = n }

// Counted returns how many keys etcd counted for the store's paged reads.
func Counted(s *Store) int64 { return s.counted.Load() }

// SetReadTimeouts sets a store's first read attempt timeout and how far it
// may grow (retryRead).
func SetReadTimeouts(s *Store, first, max time.Duration) {
	s.readTimeout, s.readTimeoutMax = first, max
}
