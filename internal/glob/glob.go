// Package glob matches the shell-style patterns used for agent ids in the
// registry and for budget scopes: '*' matches any run of bytes (dots and
// slashes included, possibly none), '?' exactly one byte, every other byte
// itself. It never allocates and runs in linear time in practice.
package glob

import "strings"

// IsPattern reports whether s contains a glob metacharacter.
func IsPattern(s string) bool { return strings.ContainsAny(s, "*?") }

// Match reports whether s matches pattern.
func Match(pattern, s string) bool {
	// Iterative matcher with a single backtrack point (the last '*').
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == s[i])):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			starP, starI = p, i
			p++
		case starP >= 0:
			starI++
			p, i = starP+1, starI
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
