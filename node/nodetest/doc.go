// Package nodetest starts real clusterd clusters, one process per node, for
// tests: the built binary, real Raft and bolt on disk, real gossip, the
// process isolator, HTTP on loopback. Nothing is mocked.
//
// Each node binds its own loopback address, 127.0.0.(10+i), so nodes look
// like separate hosts; all nodes of one Cluster use the same three ports
// (HTTP, Raft, gossip), picked per Cluster by probing, so clusters of tests
// running in parallel never collide. Data dirs and logs live under
// t.TempDir(): node i has DIR/node-i/data and its stdout+stderr in
// DIR/node-i/clusterd.log.
//
// Use it from a test:
//
//	c := nodetest.Start(t, nodetest.Options{N: 3, Form: nodetest.FormInitJoin})
//	leader := c.Leader(t)
//	c.Submit(t, leader.Index, `{"id":"s","type":"service","cmd":"sleep 300","instances":2,"cpus":0.1,"mem":16}`)
//	c.Eventually(t, "2 tasks running", 20*time.Second, func() bool { ... c.Tasks(0) ... })
//	c.Kill(t, leader.Index)
//	...
//	c.AssertNoTaskRunsTwice(t)
//	c.CheckConvergence(t)
//
// Eventually is the only way to wait: no bare sleeps. Every failure dumps
// the last lines of every node's log.
//
// Cleanup is registered with t.Cleanup and runs on failure too (Close runs
// it early; it is idempotent): it SIGKILLs every node process the Cluster
// started, then every task process of the cluster: the process groups
// recorded in the nodes' checkpoints (DATA/agent/tasks/*/task.json, checked
// against /proc before the kill so a reused pid is never hit) and every
// process whose CLUSTERD_SANDBOX lies under the cluster's directory or whose
// CLUSTERD_TASK_ID was seen in this cluster. It kills nothing else and
// removes nothing outside t.TempDir().
//
// The binary: Options.Binary, else $CLUSTERD_BIN, else Build, which runs
// `go build` once per test binary. Packages that want the built binary
// removed at the end call Main from TestMain.
//
// The multi-node forms need `clusterd join` (with --bootstrap-expect) and
// graceful leave on SIGTERM; FormInitOnly works with `clusterd init` alone.
// Join commands put every flag before the peer addresses: urfave/cli stops
// reading flags at the first positional argument.
package nodetest
