// Package config resolves murder-bridge's settings from four places, in
// this order of precedence (the first that sets a value wins):
//
//  1. command-line flags;
//  2. the environment: MURDER_BRIDGE_<FLAG>, the flag name upper-cased with
//     '-' as '_' (MURDER_BRIDGE_FOLLOW_USER for --follow-user);
//  3. the --config FILE: `key: value` lines as in imapd.conf, keys being
//     flag names ('-' or '_'), '#' starting a comment line;
//  4. an existing Cyrus imapd.conf (--imapd-conf), from which only the murder
//     settings are taken: mupdate_server (→ --follow, ":3905" added when it
//     has no port, a "/tls" suffix → --follow-starttls), mupdate_authname
//     (or, without it, mupdate_username) (→ --follow-user), mupdate_password
//     (the follow password itself: key "follow-password"),
//     force_sasl_client_mech (→ --follow-mech), admins (→
//     --admins), tls_server_cert and tls_server_key (→ --tls-cert, --tls-key),
//     sasl_pwcheck_method (→ --sasl-pwcheck-method) and sasl_saslauthd_path
//     (→ --saslauthd-path).
//
// Source of truth: Cyrus 3.6's imapd.conf(5) syntax (`key: value`, '#'
// comments; imap/lib/libconfig.c reads it) and option names, and the CLI
// contract in docs/contracts.md. Unknown keys in the --config file and unknown
// MURDER_BRIDGE_* variables are errors (a typo must not pass silently);
// unknown imapd.conf options are ignored (it has hundreds).
package config
