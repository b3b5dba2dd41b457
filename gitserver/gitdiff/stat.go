package gitdiff

import (
	"bytes"
	"fmt"
	"strings"

	"tapioca/gitserver/diffstat"
)

// statEntry is one line of a diffstat.
type statEntry struct {
	name           string
	added, deleted int // lines; bytes for binary files
	binary         bool
}

// statEntries counts each pair as git's diffstat does. A change of kind
// is one entry here, though its patch is two.
func (d *differ) statEntries(q []pair) ([]statEntry, error) {
	var out []statEntry
	for _, p := range q {
		if err := d.ctx.Err(); err != nil {
			return nil, err
		}
		e := statEntry{}
		switch {
		case p.renamed():
			e.name = renameName(p.one.path, p.two.path)
		case p.two.valid():
			e.name = quotePath(p.two.path)
		default:
			e.name = quotePath(p.one.path)
		}
		a, err := d.load(p.one)
		if err != nil {
			return nil, err
		}
		b, err := d.load(p.two)
		if err != nil {
			return nil, err
		}
		mayDiffer := p.one.hash() != p.two.hash()
		switch {
		case a.binary || b.binary:
			e.binary = true
			if mayDiffer {
				e.added, e.deleted = int(b.size), int(a.size)
			}
		case mayDiffer:
			td := diffText(a.data, b.data)
			e.added, e.deleted = td.add, td.del
		}
		modifiedOnly := p.one.valid() && p.two.valid() && !p.renamed() && !p.typeChanged()
		if modifiedOnly && !e.binary && e.added == 0 && e.deleted == 0 && p.one.mode() == p.two.mode() {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func decimalWidth(n int) int {
	w := 1
	for ; n >= 10; n /= 10 {
		w++
	}
	return w
}

func scaleLinear(it, width, maxChange int) int {
	if it == 0 {
		return 0
	}
	return 1 + it*(width-1)/maxChange
}

// writeStat prints git's --stat for the given total width, with no
// limit on the name or graph parts of their own (format-patch's setting).
func writeStat(w *bytes.Buffer, entries []statEntry, width int) {
	if len(entries) == 0 {
		return
	}
	maxLen, maxChange, binWidth, numberWidth := 0, 0, 0, 0
	for _, e := range entries {
		maxLen = max(maxLen, len(e.name))
		if e.binary {
			binWidth = max(binWidth, 14+decimalWidth(e.added)+decimalWidth(e.deleted))
			numberWidth = 3
			continue
		}
		maxChange = max(maxChange, e.added+e.deleted)
	}
	numberWidth = max(numberWidth, decimalWidth(maxChange))
	width = max(width, 16+6+numberWidth)
	graphWidth := maxChange
	if maxChange+4 <= binWidth {
		graphWidth = binWidth - 4
	}
	nameWidth := maxLen
	if nameWidth+numberWidth+6+graphWidth > width {
		if graphWidth > width*3/8-numberWidth-6 {
			graphWidth = max(width*3/8-numberWidth-6, 6)
		}
		if nameWidth > width-numberWidth-6-graphWidth {
			nameWidth = width - numberWidth - 6 - graphWidth
		} else {
			graphWidth = width - numberWidth - 6 - nameWidth
		}
	}

	adds, dels := 0, 0
	for _, e := range entries {
		name, prefix := e.name, ""
		n := nameWidth
		if nameWidth < len(name) {
			prefix = "..."
			n -= 3
			name = name[len(name)-n:]
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name = name[i:]
			}
		}
		pad := max(n-len(name), 0)
		if e.binary {
			fmt.Fprintf(w, " %s%s%*s | %*s", prefix, name, pad, "", numberWidth, "Bin")
			if e.added != 0 || e.deleted != 0 {
				fmt.Fprintf(w, " %d -> %d bytes", e.deleted, e.added)
			}
			w.WriteByte('\n')
			continue
		}
		adds += e.added
		dels += e.deleted
		add, del := e.added, e.deleted
		if graphWidth <= maxChange {
			total := scaleLinear(add+del, graphWidth, maxChange)
			if total < 2 && add > 0 && del > 0 {
				total = 2
			}
			if add < del {
				add = scaleLinear(add, graphWidth, maxChange)
				del = total - add
			} else {
				del = scaleLinear(del, graphWidth, maxChange)
				add = total - del
			}
		}
		sep := ""
		if e.added+e.deleted > 0 {
			sep = " "
		}
		fmt.Fprintf(w, " %s%s%*s | %*d%s%s%s\n", prefix, name, pad, "", numberWidth, e.added+e.deleted, sep,
			strings.Repeat("+", add), strings.Repeat("-", del))
	}
	writeStatSummary(w, len(entries), adds, dels)
}

func writeStatSummary(w *bytes.Buffer, files, adds, dels int) {
	if files == 1 {
		fmt.Fprintf(w, " %d file changed", files)
	} else {
		fmt.Fprintf(w, " %d files changed", files)
	}
	if adds > 0 || dels == 0 {
		if adds == 1 {
			fmt.Fprintf(w, ", %d insertion(+)", adds)
		} else {
			fmt.Fprintf(w, ", %d insertions(+)", adds)
		}
	}
	if dels > 0 || adds == 0 {
		if dels == 1 {
			fmt.Fprintf(w, ", %d deletion(-)", dels)
		} else {
			fmt.Fprintf(w, ", %d deletions(-)", dels)
		}
	}
	w.WriteByte('\n')
}

// writeSummary prints git's --summary lines: creations, deletions,
// renames and mode changes.
func writeSummary(w *bytes.Buffer, q []pair) {
	modeChange := func(p pair, withName bool) {
		if p.one.mode() != 0 && p.two.mode() != 0 && p.one.mode() != p.two.mode() {
			fmt.Fprintf(w, " mode change %06o => %06o", uint32(p.one.mode()), uint32(p.two.mode()))
			if withName {
				w.WriteString(" " + quotePath(p.two.path))
			}
			w.WriteByte('\n')
		}
	}
	for _, p := range q {
		switch {
		case !p.one.valid():
			fmt.Fprintf(w, " create mode %06o %s\n", uint32(p.two.mode()), quotePath(p.two.path))
		case !p.two.valid():
			fmt.Fprintf(w, " delete mode %06o %s\n", uint32(p.one.mode()), quotePath(p.one.path))
		case p.renamed():
			fmt.Fprintf(w, " rename %s (%d%%)\n", renameName(p.one.path, p.two.path), p.score*100/diffstat.MaxScore)
			modeChange(p, false)
		default:
			modeChange(p, true)
		}
	}
}
