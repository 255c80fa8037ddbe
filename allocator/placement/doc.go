// Package placement decides which host each pending task runs on, in the manner of
// Netflix Fenzo (fitness calculators combined by weights, bin packing, a "good enough"
// score that ends the search early) with Marathon's constraint operators (UNIQUE, CLUSTER,
// GROUP_BY, LIKE, UNLIKE, MAX_PER, IS), hard or soft. Any framework can use it to choose
// among its offers.
//
// Place takes the hosts (what each has free for the caller now, and its total), the tasks
// already running, and the pending tasks. It returns where tasks go and, for every task it
// could not place, why: each host counted under the first reason it was rejected for, with
// the hosts that can never take the task (too small, wrong attributes) kept apart from those
// that cannot take it now (resources in use, the group's layout); see Why.
//
// # How a task is placed
//
// Tasks are placed one at a time, most urgent first, each seeing the placements before it.
// For a task, the hosts pass through filters, then scorers:
//
//   - filters: the free resources (CPUs, memory, disk, GPUs, a number of ports), the
//     exclusivity of the task and of the tasks on the host (Task.Exclusive), and the
//     task's hard constraints;
//   - scorers: the Fitness calculators of Config.Fitness and the task's soft constraints,
//     each scoring 0 to 1, combined by their weights into a score from 0 to 1.
//
// The task goes to the host with the highest score, or to the first host visited that
// scores at least Config.GoodEnough. Hosts are visited in an order that makes bin packing
// fast (see Place).
//
// # Constraints
//
// Constraints are Marathon's; see the Operator constants for their meaning and
// ParseConstraint for their ["field","OPERATOR","value"] form. A constraint counts the
// tasks of its task's group (Task.Group: a job or app), running and placed in this call.
// A host without the constraint's attribute fails every operator but UNLIKE, as in Marathon.
// Fenzo's other constraints map onto them:
//
//   - balance a group across the values of an attribute, such as availability zones
//     (Fenzo's balanced host attribute constraint): ["zone","GROUP_BY"], hard or soft, or
//     ["zone","GROUP_BY","3"] to count on three zones before any has a task;
//   - one task per host or per zone (Fenzo's unique host attribute constraint):
//     ["hostname","UNIQUE"], ["zone","UNIQUE"];
//   - a host attribute value (Fenzo's host attribute value constraint): ["rack","IS","r1"]
//     or LIKE with a regular expression;
//   - a host to itself (Fenzo's exclusive host constraint): Task.Exclusive.
//
// # Purity
//
// The package does no I/O, reads no clock (a task's PendingSince is the caller's), uses no
// randomness and starts no goroutines: the same arguments give the same Result.
package placement
