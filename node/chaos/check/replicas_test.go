package check

import "testing"

func TestReplicasAgree(t *testing.T) {
	reports := map[string]Replica{
		"n1": {AppliedIndex: 4711, Digest: "ab12"},
		"n2": {AppliedIndex: 4711, Digest: "ab12"},
		"n3": {AppliedIndex: 4711, Digest: "ab12"},
	}
	r := Replicas(reports, []string{"n1", "n2", "n3"})
	wantOK(t, r)
	if r.Checked != 3 {
		t.Errorf("checked %d replicas, want 3", r.Checked)
	}
	wantOK(t, Replicas(reports, nil))
}

func TestReplicasCatchDisagreement(t *testing.T) {
	diverged := map[string]Replica{
		"n1": {AppliedIndex: 4711, Digest: "ab12"},
		"n2": {AppliedIndex: 4711, Digest: "ffff"},
		"n3": {AppliedIndex: 4711, Digest: "ab12"},
	}
	wantViolation(t, Replicas(diverged, nil), "FSM diverged: at applied index 4711 the digests differ: digest ab12: n1, n3; digest ffff: n2")

	behind := map[string]Replica{
		"n1": {AppliedIndex: 4711, Digest: "ab12"},
		"n2": {AppliedIndex: 4700, Digest: "9999"},
		"n3": {AppliedIndex: 4711, Digest: "ab12"},
	}
	wantViolation(t, Replicas(behind, nil), "voters applied different indexes: index 4700: n2; index 4711: n1, n3")

	missing := map[string]Replica{"n1": {AppliedIndex: 1, Digest: "a"}}
	r := Replicas(missing, []string{"n1", "n2"})
	wantViolation(t, r, "voter n2 reported nothing")

	wantViolation(t, Replicas(nil, nil), "no replica reported")
}
