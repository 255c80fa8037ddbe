package actuate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// fakeASG stands in for the Auto Scaling endpoint: it speaks the Query
// protocol (form-encoded requests, XML answers) and records each call.
type fakeASG struct {
	mu        sync.Mutex
	calls     []string // "Action k=v ..." in order
	auth      []string // Authorization headers
	desired   int
	maxSize   int
	throttle  int // answer Throttling this many more times
	terminate map[string]string
}

func (f *fakeASG) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.PostForm.Get("Action")
	var kv []string
	for _, k := range []string{"AutoScalingGroupNames.member.1", "AutoScalingGroupName", "DesiredCapacity", "HonorCooldown", "InstanceId", "ShouldDecrementDesiredCapacity"} {
		if v := r.PostForm.Get(k); v != "" {
			kv = append(kv, k+"="+v)
		}
	}
	f.calls = append(f.calls, strings.TrimSpace(action+" "+strings.Join(kv, " ")))
	f.auth = append(f.auth, r.Header.Get("Authorization")+" date="+r.Header.Get("X-Amz-Date"))
	w.Header().Set("Content-Type", "text/xml")
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, code, msg)
	}
	if f.throttle > 0 {
		f.throttle--
		fail(400, "Throttling", "Rate exceeded")
		return
	}
	switch action {
	case "DescribeAutoScalingGroups":
		fmt.Fprintf(w, `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>%s</AutoScalingGroupName><DesiredCapacity>%d</DesiredCapacity><MaxSize>%d</MaxSize><MinSize>0</MinSize></member></AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`,
			r.PostForm.Get("AutoScalingGroupNames.member.1"), f.desired, f.maxSize)
	case "SetDesiredCapacity":
		fmt.Sscan(r.PostForm.Get("DesiredCapacity"), &f.desired)
		fmt.Fprint(w, `<SetDesiredCapacityResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></SetDesiredCapacityResponse>`)
	case "TerminateInstanceInAutoScalingGroup":
		id := r.PostForm.Get("InstanceId")
		if msg, ok := f.terminate[id]; ok {
			fail(400, "ValidationError", msg)
			return
		}
		f.desired--
		fmt.Fprintf(w, `<TerminateInstanceInAutoScalingGroupResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><TerminateInstanceInAutoScalingGroupResult><Activity><ActivityId>a-%s</ActivityId><AutoScalingGroupName>web</AutoScalingGroupName><StatusCode>InProgress</StatusCode></Activity></TerminateInstanceInAutoScalingGroupResult><ResponseMetadata><RequestId>r4</RequestId></ResponseMetadata></TerminateInstanceInAutoScalingGroupResponse>`, id)
	default:
		fail(400, "InvalidAction", "no such action "+action)
	}
}

func (f *fakeASG) take() (calls, auth []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls, auth = f.calls, f.auth
	f.calls, f.auth = nil, nil
	return calls, auth
}

type noDelay struct{}

func (noDelay) BackoffDelay(int, error) (time.Duration, error) { return time.Millisecond, nil }

func newFakeAWS(t *testing.T, f *fakeASG) *awsActuator {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	a, err := newAWSWith(context.Background(), Config{Type: "aws", Region: "eu-west-1", Endpoint: srv.URL}, "web", awsOptions{
		load: []func(*awsconfig.LoadOptions) error{
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		},
		backoff: noDelay{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAWSScaleUpRaisesTheDesiredCapacitySignedAndRetriesThrottling(t *testing.T) {
	f := &fakeASG{desired: 2, maxSize: 10, throttle: 2}
	a := newFakeAWS(t, f)
	if err := a.Act(context.Background(), Decision{Group: "web", Kind: KindScaleUp, Count: 3}); err != nil {
		t.Fatal(err)
	}
	calls, auth := f.take()
	want := []string{
		"DescribeAutoScalingGroups AutoScalingGroupNames.member.1=web", // throttled
		"DescribeAutoScalingGroups AutoScalingGroupNames.member.1=web", // throttled
		"DescribeAutoScalingGroups AutoScalingGroupNames.member.1=web",
		"SetDesiredCapacity AutoScalingGroupName=web DesiredCapacity=5 HonorCooldown=false",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	for _, h := range auth {
		if !strings.HasPrefix(h, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(h, "/eu-west-1/autoscaling/aws4_request") ||
			!strings.Contains(h, "Signature=") || strings.HasSuffix(h, "date=") {
			t.Errorf("a request is not signed for autoscaling in eu-west-1: %q", h)
		}
	}
	if f.desired != 5 {
		t.Fatalf("desired capacity %d, want 5", f.desired)
	}

	// Capped at the group's MaxSize, and said so; at it, nothing is asked.
	f.maxSize = 6
	if err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 3}); err == nil || !strings.Contains(err.Error(), "MaxSize") || f.desired != 6 {
		t.Fatalf("scale-up past MaxSize: err %v, desired %d (want 6 and an error naming MaxSize)", err, f.desired)
	}
	f.take()
	if err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 1}); err == nil || !strings.Contains(err.Error(), "already at its MaxSize 6") {
		t.Fatalf("scale-up at MaxSize: %v", err)
	}
	if calls, _ := f.take(); len(calls) != 1 {
		t.Fatalf("at MaxSize it still called %v", calls)
	}
}

func TestAWSTerminateDecrementsAndSurfacesErrors(t *testing.T) {
	f := &fakeASG{desired: 4, maxSize: 10, terminate: map[string]string{
		"i-gone": "Instance Id not found - No managed instance found for instance ID: i-gone",
		"i-bad":  "The instance i-bad is in the wrong state",
	}}
	a := newFakeAWS(t, f)
	err := a.Act(context.Background(), Decision{Kind: KindTerminate, Count: 4, Hosts: []Host{
		{Name: "n1", InstanceID: "i-1"}, {Name: "n2", InstanceID: "i-gone"}, {Name: "n3", InstanceID: "i-bad"}, {Name: "n4"}}})
	calls, _ := f.take()
	want := []string{
		"TerminateInstanceInAutoScalingGroup InstanceId=i-1 ShouldDecrementDesiredCapacity=true",
		"TerminateInstanceInAutoScalingGroup InstanceId=i-gone ShouldDecrementDesiredCapacity=true",
		"TerminateInstanceInAutoScalingGroup InstanceId=i-bad ShouldDecrementDesiredCapacity=true",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	// An instance already gone is done; a refusal is not retried and its
	// message surfaces; a node without an instance id says how to give one.
	if err == nil || !strings.Contains(err.Error(), "wrong state") || !strings.Contains(err.Error(), "instance-id") || strings.Contains(err.Error(), "i-gone") {
		t.Fatalf("error %v: want the ValidationError of i-bad and the missing id of n4, nothing of i-gone", err)
	}
	if f.desired != 3 {
		t.Fatalf("desired %d, want 3 (one instance terminated with a decrement)", f.desired)
	}
	if s := a.String(); s != "aws asg web (eu-west-1)" {
		t.Errorf("String() = %q", s)
	}
}

func TestAWSGivesUpAfterItsAttempts(t *testing.T) {
	f := &fakeASG{desired: 1, maxSize: 5, throttle: 100}
	a := newFakeAWS(t, f)
	err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 1})
	if err == nil || !strings.Contains(err.Error(), "Throttling") {
		t.Fatalf("err %v, want the throttling error once the attempts are spent", err)
	}
	if calls, _ := f.take(); len(calls) != defaultAWSAttempts {
		t.Fatalf("%d calls, want %d attempts", len(calls), defaultAWSAttempts)
	}
}
