package nodetest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// The autoscaler with the generic command actuator, whose command starts
// and stops real clusterd agents on loopback: a burst of batch work that
// the server cannot hold grows the group until the work is placed; once it
// is done the idle agents are drained and stopped; a service keeps its two
// instances running throughout.
func TestAutoscalerGrowsForABurstAndStopsIdleAgentsAfterwards(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "actuate.sh")
	// The command reads the cluster's addresses from env.sh, written once
	// the server is up. Agents write their pid; a terminate signals it
	// (SIGTERM: the agent leaves the cluster gracefully).
	writeFile(t, script, `#!/bin/sh
set -eu
. "`+dir+`/env.sh"
echo "$(date +%T) $CLUSTERD_AUTOSCALE_KIND $CLUSTERD_AUTOSCALE_COUNT $CLUSTERD_AUTOSCALE_HOSTS" >>"`+dir+`/actuations"
case $CLUSTERD_AUTOSCALE_KIND in
scale_up)
	i=0
	while [ $i -lt "$CLUSTERD_AUTOSCALE_COUNT" ]; do
		n=$(($(cat "`+dir+`/next" 2>/dev/null || echo 0) + 1))
		echo $n >"`+dir+`/next"
		mkdir -p "`+dir+`/auto-$n"
		"$BIN" join --data-dir "`+dir+`/auto-$n" --bind 127.0.0.$((100 + n)) --http-port "$HTTP" --raft-port "$RAFT" --gossip-port "$GOSSIP" \
			--server=false --attribute asg=burst --resources cpus=1,mem=512,disk=1000 --isolator process --node-name auto-$n \
			--token "$TOKEN" --log-level debug "$PEER" >"`+dir+`/auto-$n/clusterd.log" 2>&1 </dev/null &
		echo $! >"`+dir+`/auto-$n.pid"
		i=$((i + 1))
	done
	;;
terminate)
	for h in $CLUSTERD_AUTOSCALE_HOSTS; do
		kill -TERM "$(cat "`+dir+`/$h.pid")"
	done
	;;
esac
`, 0o755)
	t.Cleanup(func() { stopAutoAgents(t, dir) })
	cfg := map[string]any{
		"interval": "500ms", "boot_timeout": "60s",
		"groups": []map[string]any{{
			"name": "burst", "min_size": 0, "max_size": 3, "min_idle": 0, "max_idle": 0,
			"cooldown": "1s", "scale_up_delay": "0s", "scale_down_delay": "3s", "batch_deadline": "60s",
			"shape":    map[string]any{"cpus": 1, "mem": 512, "disk": 1000},
			"actuator": map[string]any{"type": "command", "command": []string{script}, "timeout": "20s"},
		}},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "autoscale.json")
	writeFile(t, cfgPath, string(b), 0o644)

	c := Start(t, Options{N: 1, Form: FormInitOnly, ExtraArgs: []string{"--autoscale", cfgPath, "--resources", "cpus=1,mem=1024,disk=4000"}})
	n0 := c.Node(0)
	writeFile(t, filepath.Join(dir, "env.sh"), fmt.Sprintf("BIN=%q\nHTTP=%d\nRAFT=%d\nGOSSIP=%d\nTOKEN=%q\nPEER=%q\n",
		c.Binary(), n0.HTTPPort, n0.RaftPort, n0.GossipPort, c.JoinToken(t, "agent"), n0.GossipAddr()), 0o644)

	c.Submit(t, 0, `{"id":"steady","type":"service","cmd":"sleep 600","instances":2,"cpus":0.2,"mem":32}`)
	c.Eventually(t, "the service runs 2 instances", 30*time.Second, func() bool { return len(runningOn(c, 0, "steady")) == 2 })
	// The service keeps 2 instances running all along, sampled.
	stop := make(chan struct{})
	lowest := make(chan int, 1)
	go func() {
		low := 2
		for {
			select {
			case <-stop:
				lowest <- low
				return
			case <-time.After(200 * time.Millisecond):
			}
			if n := len(runningOn(c, 0, "steady")); n >= 0 && n < low {
				low = n
			}
		}
	}()

	// 4 tasks of 0.9 cpus: none fits beside the service on the server.
	c.Submit(t, 0, `{"id":"burst","type":"batch","cmd":"sleep 6","instances":4,"cpus":0.9,"mem":128}`)
	c.Eventually(t, "the group grew to its max size of 3 agents", 60*time.Second, func() bool { return groupNodes(c, "ready") == 3 })
	c.Eventually(t, "the burst's run succeeded", 90*time.Second, func() bool {
		j, err := c.jobStatus("burst")
		return err == nil && len(j.Runs) > 0 && j.Runs[len(j.Runs)-1].State == api.RunSucceeded
	})
	c.Eventually(t, "the idle agents were drained and stopped", 60*time.Second, func() bool {
		return groupNodes(c, "ready")+groupNodes(c, "draining") == 0 && autoAgentsExited(dir) == 3
	})
	close(stop)
	if low := <-lowest; low < 2 {
		t.Errorf("the service fell to %d running instances during the scaling, want 2 throughout", low)
	}

	out, err := c.CLI(t, 0, "autoscale", "status")
	if err != nil {
		t.Fatalf("autoscale status: %v\n%s", err, out)
	}
	acts, _ := os.ReadFile(filepath.Join(dir, "actuations"))
	t.Logf("clusterd autoscale status:\n%s\nthe command ran:\n%s", out, acts)
	for _, want := range []string{"burst", "scale_up", "drain", "terminate", "command"} {
		if !strings.Contains(out, want) {
			t.Errorf("autoscale status does not show %q:\n%s", want, out)
		}
	}
	var st api.AutoscaleStatus
	if out, err := c.CLI(t, 0, "autoscale", "status", "-o", "json"); err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("autoscale status -o json: %v\n%s", err, out)
	}
	ups := 0
	for _, d := range st.Decisions {
		if d.Error != "" {
			t.Errorf("decision %+v failed", d)
		}
		if d.Kind == "scale_up" {
			ups += d.Count
		}
		if d.Reason == "" {
			t.Errorf("decision without a reason: %+v", d)
		}
	}
	if ups != 3 {
		t.Errorf("the group was asked for %d hosts, want 3 (its max size): %+v", ups, st.Decisions)
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// groupNodes counts the nodes of group burst in a state.
func groupNodes(c *Cluster, state string) int {
	nodes, err := c.APINodes(0)
	if err != nil {
		return -1
	}
	n := 0
	for _, nd := range nodes {
		if nd.Attributes["asg"] == "burst" && nd.State == state {
			n++
		}
	}
	return n
}

func (c *Cluster) jobStatus(id string) (api.Job, error) {
	var j api.Job
	err := c.get(0, "/v1/jobs/"+id, httpTimeout, &j)
	return j, err
}

// autoPIDs are the agents the actuator started.
func autoPIDs(dir string) []int {
	var pids []int
	files, _ := filepath.Glob(filepath.Join(dir, "auto-*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func autoAgentsExited(dir string) int {
	n := 0
	for _, pid := range autoPIDs(dir) {
		if !processAlive(pid) {
			n++
		}
	}
	return n
}

// processAlive: the pid runs and is not a zombie (the agents are not our
// children: the shell that started them exited, so init reaps them).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}

// stopAutoAgents stops what the actuator started, also when the test failed.
func stopAutoAgents(t *testing.T, dir string) {
	pids := autoPIDs(dir)
	for _, pid := range pids {
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if t.Failed() {
		for _, f := range func() []string { m, _ := filepath.Glob(filepath.Join(dir, "auto-*", "clusterd.log")); return m }() {
			b, _ := os.ReadFile(f)
			lines := strings.Split(string(b), "\n")
			t.Logf("%s (last 30 lines):\n%s", f, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "actuations")); err == nil {
			t.Logf("actuations:\n%s", b)
		}
	}
}
