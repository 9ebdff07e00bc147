package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"*", "team/agent.v2", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"a*c", "abxc", true}, {"a*c", "abxd", false},
		{"a*b*c", "aXbYbZc", true}, {"a*b*c", "aXbYbZ", false},
		// A '*' in the pattern is always a wildcard, also where s holds a '*'.
		{"*x", "*y", false}, {"a*", "a*", true},
	} {
		if got := Match(tt.p, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
	if !IsPattern("a*") || !IsPattern("a?") || IsPattern("abc") {
		t.Error("IsPattern")
	}
}
