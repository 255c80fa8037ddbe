package actuate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	internal  int // answer 500 InternalFailure this many more times
	setFail   string
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
	if f.internal > 0 {
		f.internal--
		w.WriteHeader(500)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>We encountered an internal error</Message></Error><RequestId>r0</RequestId></ErrorResponse>`)
		return
	}
	switch action {
	case "DescribeAutoScalingGroups":
		fmt.Fprintf(w, `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>%s</AutoScalingGroupName><DesiredCapacity>%d</DesiredCapacity><MaxSize>%d</MaxSize><MinSize>0</MinSize></member></AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`,
			r.PostForm.Get("AutoScalingGroupNames.member.1"), f.desired, f.maxSize)
	case "SetDesiredCapacity":
		if f.setFail != "" {
			fail(400, "ValidationError", f.setFail)
			return
		}
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

// hermeticAWS keeps the developer's or CI's AWS settings (a profile, a CA
// bundle, a region) out of the test: the actuator sees only what it sets.
func hermeticAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_AUTO_SCALING", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		t.Setenv(k, "")
	}
}

func newFakeAWS(t *testing.T, f *fakeASG) *awsActuator {
	t.Helper()
	hermeticAWS(t)
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

func TestAWSRetriesServerErrorsAndSurfacesARefusalUnretried(t *testing.T) {
	f := &fakeASG{desired: 2, maxSize: 10, internal: 2}
	a := newFakeAWS(t, f)
	if err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 1}); err != nil {
		t.Fatalf("500, 500, then an answer: %v", err)
	}
	if calls, _ := f.take(); len(calls) != 4 || f.desired != 3 {
		t.Fatalf("calls %v, desired %d: want 2 failed and 1 answered describe, then a set to 3", calls, f.desired)
	}

	f.setFail = "New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup."
	err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 1})
	if err == nil || !strings.Contains(err.Error(), "above max value 3") || !strings.Contains(err.Error(), "ValidationError") {
		t.Fatalf("err %v, want the ValidationError with AWS's message", err)
	}
	if calls, _ := f.take(); len(calls) != 2 {
		t.Fatalf("a ValidationError was retried: %v", calls)
	}

	if err := a.Act(context.Background(), Decision{Kind: KindScaleUp, Count: 0}); err == nil {
		t.Fatal("a scale-up by 0 hosts was accepted")
	}
	if calls, _ := f.take(); len(calls) != 0 {
		t.Fatalf("a scale-up by 0 hosts called %v", calls)
	}
}

func TestAWSRegionAndGroupDefaults(t *testing.T) {
	hermeticAWS(t)
	if _, err := New(context.Background(), Config{Type: "aws"}, "web"); err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("no region anywhere: %v, want an error that says to set one", err)
	}
	// The region comes from the usual chain, the group's name by default.
	t.Setenv("AWS_REGION", "us-east-2")
	a, err := New(context.Background(), Config{Type: "aws"}, "web")
	if err != nil || a.String() != "aws asg web (us-east-2)" {
		t.Fatalf("%v %v", a, err)
	}
	a, err = New(context.Background(), Config{Type: "aws", ASGName: "web-asg-7", Region: "ap-south-1"}, "web")
	if err != nil || a.String() != "aws asg web-asg-7 (ap-south-1)" {
		t.Fatalf("%v %v", a, err)
	}
}
