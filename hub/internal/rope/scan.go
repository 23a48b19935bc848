package rope

import "errors"

// Member is one member of an object in a rope: the offsets of its key (a
// JSON string, quotes included) and of its value.
type Member struct {
	KeyFrom, KeyTo int
	From, To       int
}

// Outline is what Scan found in a rope.
type Outline struct {
	// Kind is the first byte of the top-level value: '{' for an object,
	// '[' for an array, and so on.
	Kind byte
	// From and To bound the top-level value, without the space around it.
	From, To int
	// Members are the members of a top-level object, in order.
	Members []Member
	// Inner are the members of those of Members whose value is an object,
	// by their index in Members.
	Inner map[int][]Member
}

// ErrSyntax says the bytes are not one JSON value.
var ErrSyntax = errors.New("not valid JSON")

// The scanner's states: what the next byte may be.
const (
	stValue      = iota // a value (at the top, after ':' or after ',' in an array)
	stValueOrEnd        // after '[': a value or ']'
	stKeyOrEnd          // after '{': a key or '}'
	stKey               // after ',' in an object: a key
	stColon             // after a key
	stAfter             // after a value in a container: ',' or its end
	stString            // in a string
	stEscape            // after a backslash in a string
	stHex               // in the four hex digits of \u
	stNumMinus          // after '-'
	stNumZero           // after a leading 0
	stNumInt            // in the integer digits
	stNumDot            // after '.'
	stNumFrac           // in the fraction digits
	stNumE              // after 'e' or 'E'
	stNumESign          // after the exponent's sign
	stNumExp            // in the exponent digits
	stLiteral           // in true, false or null
	stDone              // after the top-level value: space only
)

// scanner checks JSON a byte at a time, as RFC 8259's grammar says, and
// records where the members of the top-level object (and of the objects
// in it) are.
type scanner struct {
	out     *Outline
	state   int
	stack   []byte // the open containers: '{' or '['
	isKey   bool   // the string being read is a key
	hex     int    // hex digits still due
	lit     string // the literal being matched
	litPos  int
	started bool // the top-level value has begun
	member  Member
	inner   Member
}

// Scan checks that the rope holds one JSON value, with space around it at
// most, and returns its outline.
func Scan(r *Rope) (*Outline, error) {
	s := &scanner{out: &Outline{}, state: stValue}
	off := 0
	for _, b := range r.blocks {
		if err := s.block(b, off); err != nil {
			return nil, err
		}
		off += len(b)
	}
	if err := s.end(off); err != nil {
		return nil, err
	}
	return s.out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// block scans b, whose first byte is at offset off of the rope.
func (s *scanner) block(b []byte, off int) error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch s.state {
		case stString:
			// The bulk of a large message: run through plain bytes.
			for c >= 0x20 && c != '"' && c != '\\' {
				i++
				if i == len(b) {
					return nil
				}
				c = b[i]
			}
			switch {
			case c == '"':
				s.endString(off + i + 1)
			case c == '\\':
				s.state = stEscape
			default:
				return ErrSyntax // a control character
			}
			continue
		case stEscape:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.state = stString
			case 'u':
				s.state, s.hex = stHex, 4
			default:
				return ErrSyntax
			}
			continue
		case stHex:
			if !isHex(c) {
				return ErrSyntax
			}
			if s.hex--; s.hex == 0 {
				s.state = stString
			}
			continue
		case stLiteral:
			if c != s.lit[s.litPos] {
				return ErrSyntax
			}
			if s.litPos++; s.litPos == len(s.lit) {
				s.valueEnd(off + i + 1)
			}
			continue
		}
		if s.state >= stNumMinus && s.state <= stNumExp {
			if s.number(c) {
				continue
			}
			// c ends the number; it is read again as what follows.
			if !s.numberComplete() {
				return ErrSyntax
			}
			s.valueEnd(off + i)
		}
		if isSpace(c) {
			continue
		}
		if err := s.token(c, off+i); err != nil {
			return err
		}
	}
	return nil
}

// token reads a byte outside strings, numbers and literals that is not
// space.
func (s *scanner) token(c byte, at int) error {
	switch s.state {
	case stValue, stValueOrEnd:
		if c == ']' && s.state == stValueOrEnd {
			s.stack = s.stack[:len(s.stack)-1]
			s.valueEnd(at + 1)
			return nil
		}
		return s.value(c, at)
	case stKeyOrEnd, stKey:
		if c == '}' && s.state == stKeyOrEnd {
			s.stack = s.stack[:len(s.stack)-1]
			s.valueEnd(at + 1)
			return nil
		}
		if c != '"' {
			return ErrSyntax
		}
		s.state, s.isKey = stString, true
		switch s.where() {
		case 1:
			s.member = Member{KeyFrom: at}
		case 2:
			s.inner = Member{KeyFrom: at}
		}
		return nil
	case stColon:
		if c != ':' {
			return ErrSyntax
		}
		s.state = stValue
		return nil
	case stAfter:
		top := s.stack[len(s.stack)-1]
		switch {
		case c == ',' && top == '{':
			s.state = stKey
		case c == ',':
			s.state = stValue
		case c == '}' && top == '{', c == ']' && top == '[':
			s.stack = s.stack[:len(s.stack)-1]
			s.valueEnd(at + 1)
		default:
			return ErrSyntax
		}
		return nil
	}
	return ErrSyntax // stDone: something after the value
}

// where tells whose members the scanner is among: 1 for the top-level
// object's, 2 for those of an object that is a member's value there, 0
// for any other.
func (s *scanner) where() int {
	switch {
	case len(s.stack) == 1 && s.stack[0] == '{':
		return 1
	case len(s.stack) == 2 && s.stack[0] == '{' && s.stack[1] == '{':
		return 2
	}
	return 0
}

// value starts a value with c, at offset at.
func (s *scanner) value(c byte, at int) error {
	if !s.started {
		s.started = true
		s.out.Kind, s.out.From = c, at
	}
	switch s.where() {
	case 1:
		s.member.From = at
	case 2:
		s.inner.From = at
	}
	switch {
	case c == '{':
		s.stack = append(s.stack, '{')
		s.state = stKeyOrEnd
	case c == '[':
		s.stack = append(s.stack, '[')
		s.state = stValueOrEnd
	case c == '"':
		s.state, s.isKey = stString, false
	case c == '-':
		s.state = stNumMinus
	case c == '0':
		s.state = stNumZero
	case c >= '1' && c <= '9':
		s.state = stNumInt
	case c == 't':
		s.state, s.lit, s.litPos = stLiteral, "true", 1
	case c == 'f':
		s.state, s.lit, s.litPos = stLiteral, "false", 1
	case c == 'n':
		s.state, s.lit, s.litPos = stLiteral, "null", 1
	default:
		return ErrSyntax
	}
	return nil
}

// number reads c in a number; it reports false when c is not part of it.
func (s *scanner) number(c byte) bool {
	digit := c >= '0' && c <= '9'
	switch s.state {
	case stNumMinus:
		switch {
		case c == '0':
			s.state = stNumZero
		case digit:
			s.state = stNumInt
		default:
			return false
		}
	case stNumZero, stNumInt:
		switch {
		case digit && s.state == stNumInt:
		case c == '.':
			s.state = stNumDot
		case c == 'e' || c == 'E':
			s.state = stNumE
		default:
			return false
		}
	case stNumDot:
		if !digit {
			return false
		}
		s.state = stNumFrac
	case stNumFrac:
		switch {
		case digit:
		case c == 'e' || c == 'E':
			s.state = stNumE
		default:
			return false
		}
	case stNumE:
		switch {
		case c == '+' || c == '-':
			s.state = stNumESign
		case digit:
			s.state = stNumExp
		default:
			return false
		}
	case stNumESign:
		if !digit {
			return false
		}
		s.state = stNumExp
	case stNumExp:
		if !digit {
			return false
		}
	}
	return true
}

func (s *scanner) numberComplete() bool {
	switch s.state {
	case stNumZero, stNumInt, stNumFrac, stNumExp:
		return true
	}
	return false
}

// endString ends a string at offset end (just past its quote).
func (s *scanner) endString(end int) {
	if !s.isKey {
		s.valueEnd(end)
		return
	}
	switch s.where() {
	case 1:
		s.member.KeyTo = end
	case 2:
		s.inner.KeyTo = end
	}
	s.state = stColon
}

// valueEnd ends a value at offset end. The container it is in (if any) is
// on the top of the stack.
func (s *scanner) valueEnd(end int) {
	switch s.where() {
	case 0:
		if len(s.stack) == 0 {
			s.out.To = end
			s.state = stDone
			return
		}
	case 1:
		s.member.To = end
		s.out.Members = append(s.out.Members, s.member)
	case 2:
		s.inner.To = end
		if s.out.Inner == nil {
			s.out.Inner = map[int][]Member{}
		}
		i := len(s.out.Members) // the member whose value this object is, not yet recorded
		s.out.Inner[i] = append(s.out.Inner[i], s.inner)
	}
	s.state = stAfter
}

// end checks the scan is complete at offset n, the rope's length.
func (s *scanner) end(n int) error {
	if s.state >= stNumMinus && s.state <= stNumExp && len(s.stack) == 0 {
		if !s.numberComplete() {
			return ErrSyntax
		}
		s.valueEnd(n)
	}
	if s.state != stDone {
		return ErrSyntax
	}
	return nil
}
