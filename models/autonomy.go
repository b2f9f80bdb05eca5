package models

import "fmt"

// Autonomy is an agent's level in the CSA Agentic Trust Framework's
// progressive autonomy model.
type Autonomy string

// Autonomy levels, least to most trusted.
const (
	AutonomyIntern    Autonomy = "intern"
	AutonomyJunior    Autonomy = "junior"
	AutonomySenior    Autonomy = "senior"
	AutonomyPrincipal Autonomy = "principal"
)

// Rank orders levels: intern 1 … principal 4; 0 for unknown or empty.
func (a Autonomy) Rank() int {
	switch a {
	case AutonomyIntern:
		return 1
	case AutonomyJunior:
		return 2
	case AutonomySenior:
		return 3
	case AutonomyPrincipal:
		return 4
	}
	return 0
}

// Demoted returns the next lower level; intern stays intern.
func (a Autonomy) Demoted() Autonomy {
	switch a {
	case AutonomyPrincipal:
		return AutonomySenior
	case AutonomySenior:
		return AutonomyJunior
	default:
		return AutonomyIntern
	}
}

// ParseAutonomy parses a level name, accepting the framework's capitalised
// names. The empty string parses to the empty level (unknown).
func ParseAutonomy(s string) (Autonomy, error) {
	switch s {
	case "":
		return "", nil
	case "intern", "Intern":
		return AutonomyIntern, nil
	case "junior", "Junior":
		return AutonomyJunior, nil
	case "senior", "Senior":
		return AutonomySenior, nil
	case "principal", "Principal":
		return AutonomyPrincipal, nil
	}
	return "", fmt.Errorf("%w: autonomy level %q (want intern, junior, senior or principal)", ErrInvalid, clip(s, 64))
}
