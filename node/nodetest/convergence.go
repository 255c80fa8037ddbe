package nodetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// convergeTimeout bounds CheckConvergence.
const convergeTimeout = 30 * time.Second

// ignoredFields are the per-node parts of the objects GET path lists, left
// out when voters' answers are compared: a job's pending reason is computed
// by the leader's scheduler and a task's measured use is reported to the
// leader; neither is replicated.
func ignoredFields(path string) []string {
	switch path {
	case "/v1/jobs":
		return []string{"pending"}
	case "/v1/tasks":
		return []string{"used"}
	}
	return nil
}

// CheckConvergence checks, waiting up to 30 s, that every live voter (per
// the leader's status) reports the same applied_index and the same jobs and
// tasks (GET /v1/jobs and /v1/tasks, compared as JSON without per-node
// fields, read from each voter itself: redirects are not followed). Call it
// at the end of a test, once the cluster should be quiet.
func (c *Cluster) CheckConvergence(t *testing.T) {
	t.Helper()
	leader := c.Leader(t)
	c.eventually(t, "every live voter has the same applied index and state", convergeTimeout, func() (bool, string) {
		st, err := c.Status(leader.Index)
		if err != nil {
			return false, err.Error()
		}
		var voters []*Node
		for _, n := range c.Nodes() {
			if !c.live(n) {
				continue
			}
			id := n.ID
			if id == "" {
				s, err := c.Status(n.Index)
				if err != nil {
					return false, err.Error()
				}
				id = s.NodeID
			}
			if slices.Contains(st.Voters, id) {
				voters = append(voters, n)
			}
		}
		if len(voters) == 0 {
			return false, fmt.Sprintf("no live node is a voter %v", st.Voters)
		}
		var firstIndex uint64
		first := map[string]string{}
		for k, n := range voters {
			s, err := c.Status(n.Index)
			if err != nil {
				return false, err.Error()
			}
			if k == 0 {
				firstIndex = s.AppliedIndex
			} else if s.AppliedIndex != firstIndex {
				return false, fmt.Sprintf("node %d applied %d, node %d applied %d", voters[0].Index, firstIndex, n.Index, s.AppliedIndex)
			}
			for _, path := range []string{"/v1/jobs", "/v1/tasks"} {
				got, err := c.localState(n.Index, path)
				if err != nil {
					return false, err.Error()
				}
				if k == 0 {
					first[path] = got
				} else if got != first[path] {
					return false, fmt.Sprintf("GET %s differs at applied index %d:\nnode %d: %s\nnode %d: %s", path, firstIndex, voters[0].Index, first[path], n.Index, got)
				}
			}
		}
		return true, ""
	})
}

// localState is node i's own answer to GET path (a JSON list of objects),
// sorted by id and without ignoredFields, as canonical JSON.
func (c *Cluster) localState(i int, path string) (string, error) {
	hc := &http.Client{
		Timeout:   httpTimeout,
		Transport: authTransport{c},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := hc.Get(c.Node(i).Addr + path)
	if err != nil {
		return "", fmt.Errorf("GET %s from node %d: %w", path, i, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET %s from node %d: %w", path, i, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s from node %d: %s (reads must be served locally): %s", path, i, resp.Status, strings.TrimSpace(string(body)))
	}
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("GET %s from node %d: decode: %w", path, i, err)
	}
	for _, obj := range list {
		for _, f := range ignoredFields(path) {
			delete(obj, f)
		}
	}
	slices.SortFunc(list, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a["id"]), fmt.Sprint(b["id"]))
	})
	out, err := json.Marshal(list) // maps marshal with sorted keys
	return string(out), err
}
