package autoscale

import (
	"errors"
	"fmt"
	"time"
)

// DefaultGroupAttribute is the host attribute whose value names a host's group when the
// Decider is given none: "asg", as set from an EC2 instance's Auto Scaling group tag at join.
const DefaultGroupAttribute = "asg"

// Rules are how one group of hosts may grow and shrink.
type Rules struct {
	// Name is the value of the group attribute that the group's hosts carry.
	Name string
	// MinSize and MaxSize bound the hosts of the group (ready and booting; a draining host
	// is already on its way out). The Decider never asks for more than MaxSize nor drains
	// below MinSize, and brings a group below MinSize back up at once, without waiting for
	// delays or cool-down.
	MinSize, MaxSize int
	// MinIdle and MaxIdle bound the idle hosts to keep (ready, running no task; booting hosts
	// count, as they will join empty): Fenzo's thresholds strategy. Below MinIdle the group
	// grows; above MaxIdle the extra idle hosts are drained.
	MinIdle, MaxIdle int
	// Cooldown is the least time between two actions (a scale-up or a drain) on the group,
	// so the cluster sees the effect of one before the next; terminating a drained host
	// completes a drain and is not held back by it.
	Cooldown time.Duration
	// ScaleUpDelay and ScaleDownDelay are how long a need must last, evaluation after
	// evaluation, before the Decider acts on it: hysteresis, so a burst that is gone in a
	// minute does not buy a host, and a lull does not drain one. Scale-down is usually the
	// longer: a host drained too early costs a boot later.
	ScaleUpDelay, ScaleDownDelay time.Duration
	// BatchDeadline is how long a draining host waits for its short-lived tasks to finish
	// before it is terminated with them. Long-lived tasks are never terminated: a host
	// running one waits until it has moved, however long. Zero waits for ever.
	BatchDeadline time.Duration
	// ConsolidateBelow, when above zero, lets the Decider drain a host that runs tasks to
	// pack the group onto fewer hosts: a ready host whose allocation is below this dominant
	// share of its total (0.3 for 30%), whose long-lived tasks all fit in what the group's
	// other busy hosts have free, and whose short-lived tasks may finish in place. Zero
	// drains only idle hosts.
	ConsolidateBelow float64
	// Shape is what one new host of the group has: the shortfall analysis packs pending
	// tasks into hosts of this size.
	Shape Amount
	// Attributes are the attribute values a new host of the group may carry (such as
	// "zone": {"eu-1a", "eu-1b"} or "instance-type": {"m6i.4xlarge"}), beside those of the
	// group's present hosts: a pending task whose constraints none of them satisfies is not
	// counted as shortfall, since more hosts of the group would not place it.
	Attributes map[string][]string
}

// Validate says what is wrong with the rules, naming the field.
func (r Rules) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("autoscale group %q: %s", r.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case r.Name == "":
		return errors.New("autoscale group: no name: want the value of the group attribute (asg) its hosts carry")
	case r.MinSize < 0:
		return fail("min size %d is negative", r.MinSize)
	case r.MaxSize < 1 || r.MaxSize < r.MinSize:
		return fail("max size %d: want at least 1 and at least min size %d", r.MaxSize, r.MinSize)
	case r.MinIdle < 0 || r.MaxIdle < r.MinIdle:
		return fail("idle hosts %d..%d: want 0 <= min idle <= max idle", r.MinIdle, r.MaxIdle)
	case r.Cooldown < 0 || r.ScaleUpDelay < 0 || r.ScaleDownDelay < 0 || r.BatchDeadline < 0:
		return fail("cool-down, delays and batch deadline must not be negative")
	case r.ConsolidateBelow < 0 || r.ConsolidateBelow > 1:
		return fail("consolidate below %g: want a share from 0 to 1", r.ConsolidateBelow)
	case r.Shape.CPUs <= 0 || r.Shape.Mem <= 0 || r.Shape.Disk < 0 || r.Shape.GPUs < 0 || r.Shape.Ports < 0:
		return fail("host shape %s: want cpus and mem above zero, nothing negative", r.Shape)
	}
	return nil
}
