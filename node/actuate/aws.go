package actuate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
)

// awsActuator drives an EC2 Auto Scaling group.
type awsActuator struct {
	name, region string
	api          asgAPI
}

// asgAPI is what the actuator calls of the Auto Scaling client.
type asgAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

const defaultAWSAttempts = 5

// awsOptions are what tests change: credentials, and a short backoff.
type awsOptions struct {
	load    []func(*awsconfig.LoadOptions) error
	backoff retry.BackoffDelayer
}

func newAWS(ctx context.Context, c Config, group string) (*awsActuator, error) {
	return newAWSWith(ctx, c, group, awsOptions{})
}

func newAWSWith(ctx context.Context, c Config, group string, o awsOptions) (*awsActuator, error) {
	name := c.ASGName
	if name == "" {
		name = group
	}
	attempts := c.MaxAttempts
	if attempts == 0 {
		attempts = defaultAWSAttempts
	}
	// The standard retryer retries throttling and 5xx answers with
	// exponential backoff and jitter, within a retry token budget.
	load := append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			if o.backoff != nil {
				so.Backoff = o.backoff
			}
		})
	})}, o.load...)
	if c.Region != "" {
		load = append(load, awsconfig.WithRegion(c.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for Auto Scaling group %s: %w", name, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("Auto Scaling group %s: no AWS region: set the actuator's region, or AWS_REGION", name)
	}
	client := autoscaling.NewFromConfig(cfg, func(ao *autoscaling.Options) {
		if c.Endpoint != "" {
			ao.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return &awsActuator{name: name, region: cfg.Region, api: client}, nil
}

func (a *awsActuator) String() string { return fmt.Sprintf("aws asg %s (%s)", a.name, a.region) }

func (a *awsActuator) Act(ctx context.Context, d Decision) error {
	switch d.Kind {
	case KindScaleUp:
		return a.scaleUp(ctx, d.Count)
	case KindTerminate:
		return a.terminate(ctx, d.Hosts)
	}
	return fmt.Errorf("%s: no such decision kind %q", a, d.Kind)
}

// scaleUp raises the desired capacity by count, up to the group's MaxSize.
func (a *awsActuator) scaleUp(ctx context.Context, count int) error {
	if count < 1 {
		return fmt.Errorf("%s: scale-up by %d hosts: want at least 1", a, count)
	}
	out, err := a.api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{a.name}})
	if err != nil {
		return fmt.Errorf("%s: describe the group: %w", a, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return fmt.Errorf("%s: no such Auto Scaling group in %s (check asg_name and region)", a, a.region)
	}
	g := out.AutoScalingGroups[0]
	desired, maxSize := int(aws.ToInt32(g.DesiredCapacity)), int(aws.ToInt32(g.MaxSize))
	want := min(desired+count, maxSize)
	if want <= desired {
		return fmt.Errorf("%s: already at its MaxSize %d (desired %d): raise the group's MaxSize to let it grow", a, maxSize, desired)
	}
	if _, err := a.api.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(a.name), DesiredCapacity: aws.Int32(int32(want)), HonorCooldown: aws.Bool(false),
	}); err != nil {
		return fmt.Errorf("%s: set the desired capacity to %d: %w", a, want, err)
	}
	if want < desired+count {
		return fmt.Errorf("%s: desired capacity set to %d, its MaxSize, not %d: raise the group's MaxSize to let it grow further", a, want, desired+count)
	}
	return nil
}

// terminate ends each host's instance and lowers the desired capacity with
// it, so the group does not start a replacement.
func (a *awsActuator) terminate(ctx context.Context, hosts []Host) error {
	var errs []error
	for _, h := range hosts {
		if h.InstanceID == "" {
			errs = append(errs, fmt.Errorf("node %s has no EC2 instance id: start it with --attribute instance-id=i-... (or name the node by its instance id)", h.Name))
			continue
		}
		_, err := a.api.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(h.InstanceID), ShouldDecrementDesiredCapacity: aws.Bool(true),
		})
		if err != nil && !alreadyGone(err) {
			errs = append(errs, fmt.Errorf("terminate %s (node %s): %w", h.InstanceID, h.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

// alreadyGone: the instance was terminated already (a retry after an
// answer that was lost), which is what was asked.
func alreadyGone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		return false
	}
	m := strings.ToLower(ae.ErrorMessage())
	return strings.Contains(m, "not found") || strings.Contains(m, "not part of")
}
