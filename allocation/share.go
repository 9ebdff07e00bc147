package allocation

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxBeneficiaries is the longest beneficiary list accepted.
const MaxBeneficiaries = 64

// Share is one beneficiary of a shared call and its weight.
type Share struct {
	Agent  string
	Weight uint64
}

// itemRE is one list item: an agent id (no ',', '=' or space), optionally
// "=weight" with weight 1..999999999; spaces around the parts are allowed.
// The ClickHouse view uses the same RE2 expression (migration 0004), so Go
// and SQL accept exactly the same lists.
var itemRE = regexp.MustCompile(ItemPattern)

// ItemPattern is the expression every comma-separated item must match.
const ItemPattern = `^ *([^,= ]+) *(?:= *([1-9][0-9]{0,8}) *)?$`

// ErrInvalidBeneficiaries reports a malformed agentcost.share.beneficiaries
// value; the call's cost then stays with the caller (rule invalid_share).
var ErrInvalidBeneficiaries = errors.New("invalid beneficiaries")

// ParseBeneficiaries parses the value of attrs.ShareBeneficiaries:
// comma-separated agent ids, each optionally followed by "=weight"
// (a positive integer up to 999999999; default 1), for example
// "planner=3, researcher=1, writer". Agent ids are distinct and hold no
// ',', '=' or space; at most MaxBeneficiaries items. An empty value means
// the call is not shared and returns nil, nil.
func ParseBeneficiaries(s string) ([]Share, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	if len(items) > MaxBeneficiaries {
		return nil, fmt.Errorf("%w: %d items, at most %d", ErrInvalidBeneficiaries, len(items), MaxBeneficiaries)
	}
	out := make([]Share, 0, len(items))
	seen := make(map[string]struct{}, len(items))
	for i, it := range items {
		m := itemRE.FindStringSubmatch(it)
		if m == nil {
			return nil, fmt.Errorf("%w: item %d %q: want agent or agent=weight (weight 1..999999999)", ErrInvalidBeneficiaries, i+1, it)
		}
		w := uint64(1)
		if m[2] != "" {
			w, _ = strconv.ParseUint(m[2], 10, 64) // at most 9 digits: cannot fail
		}
		if _, dup := seen[m[1]]; dup {
			return nil, fmt.Errorf("%w: agent %q is listed twice", ErrInvalidBeneficiaries, m[1])
		}
		seen[m[1]] = struct{}{}
		out = append(out, Share{Agent: m[1], Weight: w})
	}
	return out, nil
}

// FormatBeneficiaries renders shares in the attribute format; weights of 1
// are omitted. It is the inverse of ParseBeneficiaries for valid shares.
func FormatBeneficiaries(shares []Share) string {
	var b strings.Builder
	for i, s := range shares {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.Agent)
		if s.Weight != 1 {
			b.WriteByte('=')
			b.WriteString(strconv.FormatUint(s.Weight, 10))
		}
	}
	return b.String()
}
