// Package api owns clusterd's native wire schema: the JSON shapes of the
// /v1 HTTP API that the CLI, the dashboard and scripts speak, their
// validation, and the errors that cross the HTTP boundary.
//
// It is deliberately separate from raftfsm's log schema: the log must stay
// decodable forever, while the API may grow fields freely. Nothing here does
// I/O beyond decoding a request body handed to it.
package api
