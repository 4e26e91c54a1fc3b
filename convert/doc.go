// Package convert holds the pieces of mboxconv's batch pipelines between
// sources and sinks of mailbox entries (mailboxes.db files of every format
// and version, JSON and legacy dumps, a registry): filters, a per-slot
// content digest used to verify a finished import or export, a resumable
// checkpoint, progress reporting and the registry import loop.
//
// Source of truth: the entry model of package mboxlist (Cyrus 3.6's
// ctl_mboxlist -d fields) and the registry's stored form
// (registry.EncodeEntry), which is deterministic and so serves as the
// canonical bytes of an entry for the digest; docs/contracts.md for the
// CLI behaviour (resumable import, --progress json,
// --quiet, --dry-run).
package convert
