// Package check holds the checkers of clusterd's fault-injection suite: pure
// functions from what a chaos run recorded (client operations with invoke
// and completion times, task states observed, status updates a framework
// received, replica digests, samples of what really runs on each agent) to
// a Result that says whether one of clusterd's promises held and, when it
// did not, which operations and times show it.
//
// The checkers read no clock, draw no random numbers and do no I/O; the one
// exception is Linearizable, which writes porcupine's HTML visualization to
// a path the caller names when the job registry was not linearizable. The
// same input always gives the same Result, so a failing run's explanation
// can be reproduced from its recorded history alone.
//
// Histories follow the conventions of Jepsen and porcupine: an operation
// that failed definitely (the cluster answered that it did not happen) is
// left out; one whose outcome is unknown (a timeout, a connection cut
// mid-call) may or may not have taken effect, so it is treated as having
// completed at +infinity, free to take effect at any point after it was
// invoked, or never.
//
// Each checker is strict about its input too: a record that cannot be
// right (a completion before its invocation, a state name clusterd never
// uses) is reported as a violation, because a checker that silently skips
// what it does not understand can pass a broken run.
package check
