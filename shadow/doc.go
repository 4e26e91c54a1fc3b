// Package shadow compares what IMAP LIST shows a user on two sides of a
// migration: an old Cyrus frontend against a new frontend, or against the
// answer the registry gives (what Cyrus's LIST "" "*" would show that user,
// computed from the mailboxes visible to the user).
//
// Sources of truth:
//   - RFC 3501 §6.3.8 (LIST), RFC 5258 (LIST-EXTENDED), RFC 3348 (CHILDREN),
//     RFC 6154 (SPECIAL-USE), RFC 2342 (NAMESPACE), RFC 3501 §5.1.3
//     (modified UTF-7);
//   - what the real Cyrus IMAP 3.6.1 imapd prints for the same mailboxes,
//     checked by this package's tests against a real imapd (standard and
//     alternate namespace, unixhierarchysep, virtual domains, intermediate
//     entries); docs/shadow.md lists the rules and what is normalised as
//     cosmetic.
//
// The pieces: a Source produces a Listing for one user (IMAPSource over
// go-imap v2; RegistrySource from a list of visible internal names and the
// namespace the old frontend announced); Compare finds the Differences
// between two Listings; Runner drives many users with bounded concurrency,
// rate, timeouts, retries and a resume file; the report functions write JSON
// lines, a terminal summary and a self-contained HTML report.
package shadow
