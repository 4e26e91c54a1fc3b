// Package mupdatetest runs an MUPDATE server (package mupdateserver) on a
// free loopback port for one test and stops it when the test ends, so that
// the tests of the server, of the bridge and of the authenticators start it
// the same way.
//
// Source of truth: the contract of mupdateserver.Server's Serve and Close
// (mupdate/mupdateserver/server.go).
package mupdatetest
