// Package mupdatemetrics observes a MUPDATE server for Prometheus: a
// decorator of its mupdate.Backend counts and times the commands the server
// passes to the registry, and a collector exports the server's own
// protective actions (mupdateserver.Stats). murder-bridge serves these on
// its operator HTTP listener (package httpapi) under murder_bridge_mupdate_*.
//
// Source of truth: the metric names, labels and meanings documented in
// docs/operations.md (§5, "Metrics"), which operators' dashboards and
// alerts rely on; this package must keep them as they are.
//
// Commands are observed where the server calls its backend, so the server
// itself needs no change: a write (RESERVE, ACTIVATE, DEACTIVATE, DELETE)
// is counted with result ok, no (a refusal the client sees as NO) or error
// (the registry failed); FIND is counted with result found, missing or
// error; every LIST and UPDATE reads one snapshot (command "SNAPSHOT");
// UPDATE streams are counted when they start (command "UPDATE") and are the
// update-clients gauge while they last; a streaming NOOP is "NOOP".
// AUTHENTICATE, LOGOUT and syntax errors never reach the backend and are
// not counted.
package mupdatemetrics
