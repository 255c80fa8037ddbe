// Package health owns the health checks of the built-in service framework's
// tasks on an agent: HTTP(S), TCP and command probes run on a schedule, and
// the verdicts that follow from them (Marathon's rules): healthy, failing
// (with the consecutive failure count) and unhealthy (MaxConsecutiveFailures
// reached, the task is to be replaced).
//
// A Monitor runs the checks of every task of one agent with one timer loop
// and a bounded pool of probe workers, however many tasks there are; its
// Clock is injectable so tests drive time without sleeping
// (health/healthtest has a fake Clock and a scripted Prober).
//
// It must not: decide anything about tasks (it reports, the framework kills
// and replaces), run commands on the host itself (COMMAND checks go through
// an Execer, which the agent implements with the task's isolation), or
// import any other clusterd package (it defines the small interfaces it
// needs; the agent adapts).
package health
