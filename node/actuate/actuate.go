// Package actuate carries out the autoscaler's decisions outside the
// cluster: it asks an EC2 Auto Scaling group for more instances or
// terminates given ones (through the AWS SDK for Go v2), or hands the
// decision, as JSON, to a command or a webhook of the operator's. The
// leader's autoscaling loop (package node) decides; this package only acts,
// and reports an error a person can act on when it could not.
package actuate

import (
	"context"
	"time"
)

// Host is a host the decision names (a Terminate).
type Host struct {
	// ID is the clusterd node id; Name its node name.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Addr is the node's advertised IP address.
	Addr string `json:"addr,omitempty"`
	// InstanceID is the EC2 instance id (the node's "instance-id"
	// attribute, or its name when that looks like one); "" if unknown.
	InstanceID string `json:"instance_id,omitempty"`
	// Zone is the node's "zone" attribute.
	Zone string `json:"zone,omitempty"`
}

// Decision is what an actuator is asked to do, and why, as the command's
// stdin and the webhook's body carry it.
type Decision struct {
	Group string `json:"group"`
	// Kind is "scale_up" (add Count hosts) or "terminate" (remove Hosts,
	// which are drained: they run nothing that must keep running).
	Kind   string    `json:"kind"`
	Count  int       `json:"count"`
	Hosts  []Host    `json:"hosts,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Size is the group's hosts before the decision (ready and booting).
	Size int `json:"size"`
	// Cluster is the cluster id.
	Cluster string `json:"cluster"`
}

// The decision kinds an actuator carries out.
const (
	KindScaleUp   = "scale_up"
	KindTerminate = "terminate"
)

// Actuator carries out one decision. It returns once the request was
// accepted (instances asked for or terminated), not once they have booted
// or gone; an error says what failed and is retried by the loop at its
// next evaluation.
type Actuator interface {
	Act(ctx context.Context, d Decision) error
	// String names the actuator in logs and `clusterd autoscale status`
	// ("aws asg web-asg (eu-west-1)", "command /usr/local/bin/scale",
	// "webhook https://...").
	String() string
}
