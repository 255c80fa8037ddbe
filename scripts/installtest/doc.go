// Package installtest checks scripts/install.sh for real: its test builds
// the clusterd binary, boots a private systemd (scripts/systemd-sandbox, the
// recipe of TESTING.md), installs clusterd with the script inside it, and
// follows a node from first start through a task in clusterd.slice, an
// idempotent second run, an upgrade that restarts it in place (the task
// keeps running) to the uninstall.
//
// Inside the sandbox the paths the script writes (/usr/local, /etc,
// /var/lib) are overlays whose upper layers live in the sandbox's private
// /run, and /tmp is a private tmpfs: nothing the test installs reaches the
// machine's disk, and it all vanishes with the sandbox.
//
// The package holds no code besides its test; it depends on no other
// clusterd package but web/api (for the CLI's JSON).
package installtest
