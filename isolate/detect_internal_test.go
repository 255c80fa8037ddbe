package isolate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseProcStatCountsFieldsAfterTheCommandName(t *testing.T) {
	line := "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 " +
		"250 30 0 0 20 0 1 0 987654 12345678 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{state: 'S', session: 4242, utime: 250, stime: 30, startTicks: 987654, rssPages: 321}
	if st != want {
		t.Errorf("parseProcStat = %+v; want %+v", st, want)
	}
	if _, err := parseProcStat([]byte("12 (x) S 1")); err == nil {
		t.Error("short stat line parsed without error")
	}
}

func TestValidateTaskID(t *testing.T) {
	for _, id := range []string{"a", "web.1", "a..b", "task-7f3_x:1", string(make([]byte, 0)) + "ünïcode"} {
		if err := ValidateTaskID(id); err != nil {
			t.Errorf("ValidateTaskID(%q) = %v; want ok", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "tab\tid", string(make([]byte, 201))} {
		if err := ValidateTaskID(id); err == nil {
			t.Errorf("ValidateTaskID(%q) ok; want an error", id)
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupCPUQuotaTakesSmallestAlongThePath(t *testing.T) {
	t.Run("v2", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"cpu.max":          "max 100000\n",
			"a/cpu.max":        "150000 100000\n",
			"a/b/cpu.max":      "max 100000\n",
			"memory.max":       "max\n",
			"a/memory.max":     "2147483648\n",
			"a/b/memory.max":   "max\n",
			"other/cpu.max":    "10000 100000\n",
			"other/memory.max": "1048576\n",
		})
		cg := selfCgroups{"": "/a/b"}
		if q, ok := cgroupCPUQuota(root, cg); !ok || q != 1.5 {
			t.Errorf("cpu quota = %v, %v; want 1.5", q, ok)
		}
		if m, ok := cgroupMemLimitMiB(root, cg); !ok || m != 2048 {
			t.Errorf("mem limit = %v, %v; want 2048 MiB", m, ok)
		}
	})
	t.Run("v1", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"cpu,cpuacct/cpu.cfs_quota_us":      "-1\n",
			"cpu,cpuacct/cpu.cfs_period_us":     "100000\n",
			"cpu,cpuacct/job/cpu.cfs_quota_us":  "50000\n",
			"cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
			"memory/memory.limit_in_bytes":      "9223372036854771712\n",
			"memory/job/memory.limit_in_bytes":  "536870912\n",
		})
		cg := selfCgroups{"cpu": "/job", "cpuacct": "/job", "memory": "/job"}
		if q, ok := cgroupCPUQuota(root, cg); !ok || q != 0.5 {
			t.Errorf("cpu quota = %v, %v; want 0.5", q, ok)
		}
		if m, ok := cgroupMemLimitMiB(root, cg); !ok || m != 512 {
			t.Errorf("mem limit = %v, %v; want 512 MiB", m, ok)
		}
	})
	t.Run("none", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{"cpu.max": "max 100000\n", "memory.max": "max\n"})
		if q, ok := cgroupCPUQuota(root, selfCgroups{"": "/"}); ok {
			t.Errorf("cpu quota = %v; want none", q)
		}
		if m, ok := cgroupMemLimitMiB(root, selfCgroups{"": "/"}); ok {
			t.Errorf("mem limit = %v; want none", m)
		}
	})
}

func TestReadSelfCgroupsHybridLayout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroup")
	writeFiles(t, filepath.Dir(p), map[string]string{"cgroup": "4:memory:/m\n2:cpu,cpuacct:/c\n1:name=systemd:/\n0::/u\n"})
	cg := readSelfCgroups(p)
	if cg["memory"] != "/m" || cg["cpu"] != "/c" || cg["cpuacct"] != "/c" || cg[""] != "/u" {
		t.Errorf("readSelfCgroups = %v", cg)
	}
}

func TestMemReserve(t *testing.T) {
	for _, c := range []struct{ total, want float64 }{
		{24 * 1024, 1024}, // big machine: 1 GiB
		{2048, 460.8},     // 10% + 256 MiB
		{400, 200},        // tiny: at most half
	} {
		if got := memReserveMiB(c.total); got != c.want {
			t.Errorf("memReserveMiB(%v) = %v; want %v", c.total, got, c.want)
		}
	}
}

func TestParseNvidiaSMIList(t *testing.T) {
	out := "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5e6a7b8c-1111-2222-3333-444455556666)\n" +
		"  MIG 1g.10gb      Device  0: (UUID: MIG-aaaa)\n" +
		"GPU 1: Tesla T4\n"
	got := parseNvidiaSMIList(out)
	if want := []string{"GPU-5e6a7b8c-1111-2222-3333-444455556666", "1"}; !slices.Equal(got, want) {
		t.Errorf("parseNvidiaSMIList = %v; want %v", got, want)
	}
	if got := parseNvidiaSMIList("No devices were found\n"); len(got) != 0 {
		t.Errorf("no devices parsed as %v", got)
	}
}
