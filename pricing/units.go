package pricing

// unit is a priced usage unit. The set is fixed so that a price entry is a
// fixed-size array and pricing never allocates.
type unit uint8

const (
	uInput unit = iota
	uCacheRead
	uCacheWrite
	uCacheWrite1h
	uInputAudio
	uCacheAudioRead
	uInputImage
	uCacheImageRead
	uInputVideo
	uOutput
	uReasoning
	uOutputAudio
	uOutputImage
	uOutputVideo
	uRequests
	uWebSearches
	uFileSearches
	uToolCalls
	uAudioDur
	uInputAudioDur
	uOutputAudioDur
	numUnits
)

// component is the Result field a unit's cost is reported in.
type component uint8

const (
	cInput component = iota
	cCacheRead
	cCacheWrite
	cOutput
	cReasoning
	cOther
	numComponents
)

type unitDef struct {
	key  string // price key in catalog files
	per  uint64 // the price is USD per `per` units
	comp component
	// anc lists the unit's ancestors: a unit's usage is part of each ancestor's.
	anc []unit
	// depth orders processing: more specific units (larger depth) first.
	depth int
}

var units = [numUnits]unitDef{
	uInput:          {key: "input_mtok", per: 1e6, comp: cInput, depth: 2},
	uCacheRead:      {key: "cache_read_mtok", per: 1e6, comp: cCacheRead, anc: []unit{uInput}, depth: 3},
	uCacheWrite:     {key: "cache_write_mtok", per: 1e6, comp: cCacheWrite, anc: []unit{uInput}, depth: 3},
	uCacheWrite1h:   {key: "cache_write_1h_mtok", per: 1e6, comp: cCacheWrite, anc: []unit{uInput, uCacheWrite}, depth: 4},
	uInputAudio:     {key: "input_audio_mtok", per: 1e6, comp: cInput, anc: []unit{uInput}, depth: 3},
	uCacheAudioRead: {key: "cache_audio_read_mtok", per: 1e6, comp: cCacheRead, anc: []unit{uInput, uCacheRead, uInputAudio}, depth: 4},
	uInputImage:     {key: "input_image_mtok", per: 1e6, comp: cInput, anc: []unit{uInput}, depth: 3},
	uCacheImageRead: {key: "cache_image_read_mtok", per: 1e6, comp: cCacheRead, anc: []unit{uInput, uCacheRead, uInputImage}, depth: 4},
	uInputVideo:     {key: "input_video_mtok", per: 1e6, comp: cInput, anc: []unit{uInput}, depth: 3},
	uOutput:         {key: "output_mtok", per: 1e6, comp: cOutput, depth: 2},
	uReasoning:      {key: "output_reasoning_mtok", per: 1e6, comp: cReasoning, anc: []unit{uOutput}, depth: 3},
	uOutputAudio:    {key: "output_audio_mtok", per: 1e6, comp: cOutput, anc: []unit{uOutput}, depth: 3},
	uOutputImage:    {key: "output_image_mtok", per: 1e6, comp: cOutput, anc: []unit{uOutput}, depth: 3},
	uOutputVideo:    {key: "output_video_mtok", per: 1e6, comp: cOutput, anc: []unit{uOutput}, depth: 3},
	uRequests:       {key: "requests_kcount", per: 1e3, comp: cOther, depth: 1},
	uWebSearches:    {key: "web_searches_kcount", per: 1e3, comp: cOther, depth: 2},
	uFileSearches:   {key: "file_searches_kcount", per: 1e3, comp: cOther, depth: 2},
	uToolCalls:      {key: "tool_calls_kcount", per: 1e3, comp: cOther, depth: 1},
	// Durations: usage in milliseconds, prices per hour.
	uAudioDur:       {key: "audio_hours", per: 3_600_000, comp: cInput, depth: 2},
	uInputAudioDur:  {key: "input_audio_hours", per: 3_600_000, comp: cInput, anc: []unit{uAudioDur}, depth: 3},
	uOutputAudioDur: {key: "output_audio_hours", per: 3_600_000, comp: cOutput, anc: []unit{uAudioDur}, depth: 3},
}

// roots are the units that are no other unit's part; usage of a root with
// no price while nothing priced has usage makes a call unpriced.
var roots = [...]unit{uInput, uOutput, uWebSearches, uFileSearches, uToolCalls, uAudioDur}

// joins lists pairs of overlapping units whose overlap has a unit of its own:
// a price entry that prices both must price the join too, otherwise the
// overlap's price would be ambiguous.
var joins = []struct{ a, b, join unit }{
	{uCacheRead, uInputAudio, uCacheAudioRead},
	{uCacheRead, uInputImage, uCacheImageRead},
}

// conflicts lists pairs of overlapping units whose overlap has no unit here
// (e.g. cache writes of audio); a price entry may not price both.
var conflicts = [][2]unit{
	{uCacheWrite, uInputAudio}, {uCacheWrite, uInputImage}, {uCacheWrite, uInputVideo},
	{uCacheRead, uInputVideo},
	{uReasoning, uOutputAudio}, {uReasoning, uOutputImage}, {uReasoning, uOutputVideo},
}

var unitByKey = func() map[string]unit {
	m := make(map[string]unit, numUnits)
	for i, d := range units {
		m[d.key] = unit(i)
	}
	return m
}()

// processing order: by depth descending, then unit index.
var unitOrder = func() [numUnits]unit {
	var o [numUnits]unit
	for i := range o {
		o[i] = unit(i)
	}
	for i := 1; i < len(o); i++ {
		for j := i; j > 0 && units[o[j]].depth > units[o[j-1]].depth; j-- {
			o[j], o[j-1] = o[j-1], o[j]
		}
	}
	return o
}()

func isAncestor(a, of unit) bool {
	for _, x := range units[of].anc {
		if x == a {
			return true
		}
	}
	return false
}

// usageValues returns each unit's usage. Requests 0 counts as 1.
func usageValues(u *Usage) [numUnits]uint64 {
	req := u.Requests
	if req == 0 {
		req = 1
	}
	audio := u.AudioMs
	if audio == 0 {
		audio = u.InputAudioMs + u.OutputAudioMs // overflow is caught by checkUsage
	}
	return [numUnits]uint64{
		uInput:          u.InputTokens,
		uCacheRead:      u.CacheReadTokens,
		uCacheWrite:     u.CacheWriteTokens,
		uCacheWrite1h:   u.CacheWrite1hTokens,
		uInputAudio:     u.InputAudioTokens,
		uCacheAudioRead: u.CacheAudioReadTokens,
		uInputImage:     u.InputImageTokens,
		uCacheImageRead: u.CacheImageReadTokens,
		uInputVideo:     u.InputVideoTokens,
		uOutput:         u.OutputTokens,
		uReasoning:      u.ReasoningTokens,
		uOutputAudio:    u.OutputAudioTokens,
		uOutputImage:    u.OutputImageTokens,
		uOutputVideo:    u.OutputVideoTokens,
		uRequests:       req,
		uWebSearches:    u.WebSearches,
		uFileSearches:   u.FileSearches,
		uToolCalls:      u.ToolCalls,
		uAudioDur:       audio,
		uInputAudioDur:  u.InputAudioMs,
		uOutputAudioDur: u.OutputAudioMs,
	}
}
