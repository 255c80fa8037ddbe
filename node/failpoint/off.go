//go:build !failpoints

package failpoint

// Enabled says whether this binary was built with failpoints.
const Enabled = false

// Inject does nothing in a build without failpoints.
func Inject(string) {}

// Watch does nothing in a build without failpoints.
func Watch(string) {}
