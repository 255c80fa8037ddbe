package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clusterd/clusterd/web/mesos"
)

// operatorLeader is a fake leader of the operator API: it checks what a
// Mesos master checks (POST, JSON in and out) and answers by call type.
func operatorLeader(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1" {
			http.Error(w, "Expecting 'POST' to /api/v1, received '"+r.Method+" "+r.URL.Path+"'", http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
			http.Error(w, "Expecting 'Content-Type' and 'Accept' of application/json", http.StatusUnsupportedMediaType)
			return
		}
		body, _ := io.ReadAll(r.Body)
		call, err := mesos.DecodeOperatorCall(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch call.Type {
		case mesos.OperatorGetRoles:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(mesos.OperatorResponse{Type: call.Type, GetRoles: &mesos.GetRolesResponse{
				Roles: []mesos.Role{{Name: "web", Weight: 2, Quota: &mesos.RoleQuota{Role: "web", Limits: map[string]mesos.Scalar{"cpus": {Value: 4}}}}}}})
		case mesos.OperatorUpdateWeights:
			if call.UpdateWeights == nil || len(call.UpdateWeights.WeightInfos) != 1 || call.UpdateWeights.WeightInfos[0].Role != "web" {
				http.Error(w, "unexpected update_weights "+string(body), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK) // no body, as Mesos answers
		case mesos.OperatorUpdateQuota:
			// a plain-text error, as Mesos and clusterd write them
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "Failed to validate master::Call: quota cannot be set for the default role '*'\n")
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// follower answers everything with a 307 to the leader, as a non-leader
// clusterd node does.
func follower(t *testing.T, leader string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", leader+r.URL.RequestURI())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = io.WriteString(w, "This node is not the leader; follow the redirect")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOperatorDecodesAReadThroughAFollowerRedirect(t *testing.T) {
	leader := operatorLeader(t)
	c := New(follower(t, leader.URL).URL)
	resp, err := c.Operator(context.Background(), &mesos.OperatorCall{Type: mesos.OperatorGetRoles})
	if err != nil {
		t.Fatalf("GET_ROLES through a follower: %v", err)
	}
	if resp == nil || resp.Type != mesos.OperatorGetRoles || resp.GetRoles == nil || len(resp.GetRoles.Roles) != 1 {
		t.Fatalf("GET_ROLES = %+v", resp)
	}
	r := resp.GetRoles.Roles[0]
	if r.Name != "web" || r.Weight != 2 || r.Quota == nil || r.Quota.Limits["cpus"].Value != 4 {
		t.Fatalf("role = %+v", r)
	}
}

func TestOperatorReturnsNilForAnEmptyAnswerAndResendsTheBody(t *testing.T) {
	leader := operatorLeader(t)
	c := New(follower(t, leader.URL).URL)
	// The leader refuses the call unless the body survived the redirect.
	resp, err := c.Operator(context.Background(), &mesos.OperatorCall{Type: mesos.OperatorUpdateWeights,
		UpdateWeights: &mesos.OperatorUpdateWeightsInfo{WeightInfos: []mesos.WeightInfo{{Role: "web", Weight: 3}}}})
	if err != nil || resp != nil {
		t.Fatalf("UPDATE_WEIGHTS = %+v, %v; want nil, nil", resp, err)
	}
}

func TestOperatorErrorIsTheServersPlainTextMessage(t *testing.T) {
	c := New(operatorLeader(t).URL)
	_, err := c.Operator(context.Background(), &mesos.OperatorCall{Type: mesos.OperatorUpdateQuota,
		UpdateQuota: &mesos.OperatorUpdateQuotaInfo{QuotaConfigs: []mesos.QuotaConfig{{Role: "*"}}}})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	want := "Failed to validate master::Call: quota cannot be set for the default role '*'"
	if ae.Status != http.StatusBadRequest || ae.Message != want || err.Error() != want {
		t.Fatalf("APIError = %+v, want 400 %q", ae, want)
	}

	// An error without a body still says what happened.
	_, err = c.Operator(context.Background(), &mesos.OperatorCall{Type: mesos.OperatorGetHealth})
	if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented || ae.Message != "Not Implemented (HTTP 501)" {
		t.Fatalf("empty 501: %v", err)
	}
}

func TestOperatorReportsAnUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, err := New(addr).Operator(context.Background(), &mesos.OperatorCall{Type: mesos.OperatorGetRoles})
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v (%T), want *UnreachableError", err, err)
	}
}
