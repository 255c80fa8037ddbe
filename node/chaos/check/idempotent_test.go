package check

import "testing"

func TestIdempotentRetriesPass(t *testing.T) {
	failed := op(0, KindSubmit, "never", 0, 5)
	failed.Outcome = OutcomeFailed
	subs := []Operation{
		op(0, KindSubmit, "once", 0, 5),
		op(0, KindSubmit, "retried", 0, -1), op(0, KindSubmit, "retried", 10, 20),
		op(0, KindSubmit, "lost-call", 0, -1), // unknown, and not applied: fine
		failed,
	}
	r := Idempotent(subs, map[string]Submitted{"once": {1, 1}, "retried": {1, 1}})
	wantOK(t, r)
	if r.Checked != 4 {
		t.Errorf("checked %d, want 4", r.Checked)
	}
}

func TestIdempotentCatchesARetryThatRanAgain(t *testing.T) {
	failed := op(0, KindSubmit, "ghost", 0, 5)
	failed.Outcome = OutcomeFailed
	subs := []Operation{
		op(0, KindSubmit, "twice", 0, -1), op(0, KindSubmit, "twice", 10, 20),
		op(0, KindSubmit, "gone", 0, 5),
		failed,
	}
	r := Idempotent(subs, map[string]Submitted{"twice": {2, 2}, "ghost": {1, 1}})
	wantViolation(t, r, `job "twice": 2 identical submissions made version 2 with 2 runs`)
	wantViolation(t, r, `job "gone": submission acknowledged but the job is gone`)
	wantViolation(t, r, `job "ghost" exists though all 1 submissions failed`)
}
