// Package httpapi is murder-bridge's operator HTTP listener (`serve --http
// ADDR`), separate from MUPDATE and off by default:
//
//	GET  /healthz                    200 "ok" while the process serves
//	GET  /readyz                     200 when the registry answers and, in
//	                                 follow mode, the lag is under the bound;
//	                                 503 with the reasons otherwise (JSON)
//	GET  /metrics                    Prometheus (client_golang) exposition
//	GET  /v1/mailboxes               the registry streamed (NDJSON) (bearer token)
//	GET  /v1/mailboxes/{name}        one registry entry (JSON)   (bearer token)
//	GET  /v1/visible?user=U&group=G  names U may list            (bearer token)
//	GET  /v1/slots, /v1/slots/{name} slots (JSON)                (bearer token)
//	POST /v1/slots                   create a slot         (bearer token)
//	PUT  /v1/slots/{name}            update, compare-and-set on "revision"
//	DELETE /v1/slots/{name}?revision=N                     (bearer token)
//	GET  /v1/status                  registry revision and follow status (token)
//	GET  /auth                       nginx mail auth_http
//
// Every /v1 read and write needs `Authorization: Bearer TOKEN` (the
// --http-token-file; entries carry ACLs and visible lists say who shares
// with whom); without a configured token they are all refused. /healthz,
// /readyz, /metrics and /auth are served without the token to the client
// networks of Config.HealthFrom, MetricsFrom and AuthFrom (default
// loopback) and with it to anyone. Handlers wrap themselves in needsToken
// (reads), writer (writes) or openFrom; a new registry read endpoint uses
// needsToken. Slot creation and updates are validated (see createSlot,
// checkAppend and registry.ValidateSlot). Bad input gets a 4xx with
// a JSON {"error": "..."} body naming the problem; nothing in a request can
// panic the server (handlers recover and answer 500).
//
// Source of truth: docs/contracts.md ("Registry": leveldb has one owner,
// the CLI reaches it through this API with --bridge URL; the API is loopback
// by default and needs a bearer token for writes), nginx's
// ngx_mail_auth_http_module protocol (request headers Auth-User, Auth-Pass,
// Auth-Protocol, Auth-Method; answer Auth-Status, Auth-Server as an IP
// address, Auth-Port, Auth-Wait), and Prometheus's client_golang.
//
// Client is the other side: a registry.Reader and registry.SlotStore over
// this API (not a whole registry.Store), what `murder-bridge
// lookup|visible|slot --bridge URL` and `mboxconv verify|export --bridge URL`
// use.
package httpapi
