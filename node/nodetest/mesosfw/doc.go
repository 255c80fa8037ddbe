// Package mesosfw is an independent test client for the Apache Mesos v1
// scheduler HTTP API (JSON flavour) and the v1 operator HTTP API.
//
// It is written from the Mesos documentation (docs/scheduler-http-api.md,
// docs/recordio.md, docs/operator-http-api.md) and the v1 protos
// (include/mesos/v1/scheduler/scheduler.proto, include/mesos/v1/mesos.proto,
// include/mesos/v1/master/master.proto), not from any server's Go types, so
// that a server can be checked against what Mesos documents. Where the docs
// and the protos disagree the protos win; for example an OFFERS event is
// {"type":"OFFERS","offers":{"offers":[...]}} (Event.offers is an Offers
// message) even though the prose shows "offers":[...].
//
// All JSON is built and read as generic values (map[string]any, []any,
// string, float64, bool) so that field names are spelled out the way the
// protos' JSON mapping spells them: snake_case field names, enums by name,
// bytes as standard base64, IDs as {"value": "..."} objects.
//
// Everything is bounded in time: every HTTP exchange runs under a context
// (DefaultTimeout is applied where the caller's context has no deadline),
// every wait on a stream takes a timeout, and Close stops a stream's reader
// goroutine and waits for it to exit.
//
// The package imports only the Go standard library.
package mesosfw
