package outputs

import "github.com/tetherhq/tether/detector/values"

// Class is a value class of a result field: a kind of identifier or text a
// field holds. A value may hold several classes (a bill line with an
// amount and an IBAN); a field's baseline counts how often each occurs.
type Class uint8

// Value classes (detector/values, the one value classifier of the
// detectors, defines them). ClassProse is free text (a sentence of several
// words); a value that is not prose is a record token. The numbering is
// stable: it indexes the class frequencies of the baselines' state.
const (
	ClassEmail   Class = iota
	ClassURL           // a URL with a scheme or www. prefix
	ClassHost          // a bare domain name
	ClassIBAN          // an IBAN-shaped account id (ISO 13616)
	ClassAccount       // a long run of digits (account, card, reference)
	ClassPhone         // a phone number with a + or grouped digits
	ClassMoney         // an amount with a currency mark or two decimals
	ClassDate          // an ISO or slashed date
	ClassPath          // a file-system path
	ClassProse         // free text: a sentence of several words
	numClasses
)

// String returns the class name.
func (c Class) String() string {
	if c < numClasses {
		return valueClass[c].String()
	}
	return "unknown"
}

// classSet is a bit set of classes.
type classSet uint16

func (s classSet) has(c Class) bool { return s&(1<<c) != 0 }

// contactClasses are the identifiers a consequential call can be aimed at.
const contactClasses = classSet(1<<ClassEmail | 1<<ClassURL | 1<<ClassHost | 1<<ClassIBAN | 1<<ClassAccount | 1<<ClassPhone)

// valueClass is each Class in the value classifier (detector/values).
var valueClass = [numClasses]values.Class{values.Email, values.URL, values.Host, values.IBAN,
	values.Account, values.Phone, values.Money, values.Date, values.Path, values.Prose}

// classify returns the classes v holds (values.Fields): linear in len(v).
func classify(v string) classSet {
	vs := values.Fields(v)
	if vs == 0 {
		return 0
	}
	var s classSet
	for c, vc := range valueClass {
		if vs.Has(vc) {
			s |= 1 << c
		}
	}
	return s
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isLetter(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80
}
