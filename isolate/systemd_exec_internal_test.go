package isolate

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// TestExecUnitKeepsEveryTaskUnitSetting checks that an Exec unit is the
// task's unit but for its command, description, output and exit record:
// no protection and no limit is dropped or changed, whatever the profile.
func TestExecUnitKeepsEveryTaskUnitSetting(t *testing.T) {
	env := map[string]string{"FOO": "bar"}
	lim := Limits{CPUs: 1.5, MemMiB: 256}
	for name, spec := range map[string]LaunchSpec{
		"hardened":              {Env: env, Limits: lim},
		"hardened as user":      {User: "www", Env: env, Limits: lim},
		"hardened with GPUs":    {Env: env, Limits: Limits{CPUs: 1, MemMiB: 64, GPUs: []string{"0", "2"}}},
		"relaxed":               {Profile: ProfileRelaxed, Env: env, Limits: lim},
		"relaxed as user":       {Profile: ProfileRelaxed, User: "www", Env: env, Limits: lim},
		"hardened, no limits":   {},
		"explicitly hardened":   {Profile: ProfileHardened, Limits: lim},
		"relaxed without limit": {Profile: ProfileRelaxed},
	} {
		t.Run(name, func(t *testing.T) {
			spec.TaskID, spec.Cmd = "web.1", "serve --port 80"
			p := testPaths(spec.TaskID)
			task, err := unitSettings(spec, p)
			if err != nil {
				t.Fatal(err)
			}
			sb := newExecSandbox(spec)
			dyn := ""
			if sb.dynamicUser() {
				dyn = "clusterd-web.1"
			}
			ep := p
			ep.Unit = execUnitName()
			ex, err := execUnitSettings(sb.spec(spec.TaskID, "curl -f localhost"), ep, p.Unit, dyn, 7)
			if err != nil {
				t.Fatal(err)
			}
			render := func(ss []setting, skip ...string) []string {
				var out []string
				for _, s := range ss {
					if !slices.Contains(skip, s.name) {
						out = append(out, fmt.Sprintf("%s=%#v", s.name, s.prop.Value()))
					}
				}
				slices.Sort(out)
				return out
			}
			replaced := []string{"Description", "ExecStartEx", "ExecStopPostEx", "StandardOutputFileToAppend", "StandardErrorFileToAppend"}
			added := []string{"StandardOutputFileDescriptor", "StandardErrorFileDescriptor", "JoinsNamespaceOf", "User"}
			kept := render(task, replaced...)
			// The task's own User= (a named user) is kept: compare it too.
			got := render(ex, append(slices.Clone(replaced), "StandardOutputFileDescriptor", "StandardErrorFileDescriptor", "JoinsNamespaceOf")...)
			if dyn != "" {
				got = slices.DeleteFunc(got, func(s string) bool { return s == fmt.Sprintf("User=%#v", dyn) })
			}
			if !slices.Equal(got, kept) {
				t.Errorf("Exec unit settings differ from the task's:\n task: %s\n exec: %s", strings.Join(kept, "\n       "), strings.Join(got, "\n       "))
			}
			want := map[string]any{
				"StandardOutputFileDescriptor": dbus.UnixFD(7),
				"StandardErrorFileDescriptor":  dbus.UnixFD(7),
				"JoinsNamespaceOf":             []string{p.Unit},
			}
			if dyn != "" {
				want["User"] = dyn
			}
			for _, s := range ex {
				if w, ok := want[s.name]; ok && fmt.Sprint(w) == fmt.Sprint(s.prop.Value()) {
					delete(want, s.name)
				}
				if s.name == "ExecStartEx" {
					if c := s.prop.Value().([]execCommand); len(c) != 1 || !slices.Equal(c[0].Args, []string{"/bin/sh", "-c", "curl -f localhost"}) {
						t.Errorf("Exec unit ExecStartEx = %+v; want /bin/sh -c the command", c)
					}
				}
				if !slices.Contains(added, s.name) && !slices.ContainsFunc(task, func(ts setting) bool { return ts.name == s.name }) {
					t.Errorf("Exec unit adds setting %s", s.name)
				}
			}
			if len(want) > 0 {
				t.Errorf("Exec unit lacks %v", want)
			}
		})
	}
}

func TestExecUnitRefusesADynamicUserMismatch(t *testing.T) {
	p := testPaths("web.1")
	if _, err := execUnitSettings(LaunchSpec{TaskID: "web.1", Cmd: "true"}, p, p.Unit, "", 3); err == nil {
		t.Error("an Exec unit with DynamicUser but no dynamic user name was made; want an error")
	}
	if _, err := execUnitSettings(LaunchSpec{TaskID: "web.1", Cmd: "true", Profile: ProfileRelaxed}, p, p.Unit, "clusterd-web.1", 3); err == nil {
		t.Error("an Exec unit with a dynamic user name for a task without DynamicUser was made; want an error")
	}
}

func TestExecUnitNamesNeverNameATaskUnit(t *testing.T) {
	for _, id := range []string{".exec-0123456789abcdef", "\\x2eexec-0", "exec-0", ".", "..x"} {
		if strings.HasPrefix(unitName(id), execUnitPrefix) {
			t.Errorf("task %q has unit %s, in the Exec units' namespace", id, unitName(id))
		}
	}
	a, b := execUnitName(), execUnitName()
	if a == b || !strings.HasPrefix(a, execUnitPrefix) || !strings.HasSuffix(a, ".service") {
		t.Errorf("Exec unit names %s, %s; want distinct %s*.service", a, b, execUnitPrefix)
	}
}
