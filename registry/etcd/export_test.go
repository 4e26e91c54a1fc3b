package etcd

// GroupStats tells the tests how the group commit went: transactions of
// two or more writes, the writes in them, and those that failed.
func GroupStats(s *Store) (groups, grouped, failed int64) {
	return s.group.groups.Load(), s.group.grouped.Load(), s.group.failed.Load()
}
