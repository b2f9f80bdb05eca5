package capability

import "github.com/tetherhq/tether/models"

// ToxicPath is one capability path an agent's own manifest makes possible.
type ToxicPath struct {
	// Path is the path's name (PathTrifecta, …).
	Path string `json:"path"`
	// Designed is true when the agent's DesignedFlows declares it.
	Designed bool `json:"designed"`
}

// ToxicPaths returns the toxic paths a's own tools make possible, in report
// order (paths gained through delegation are reported at run time by the
// Detector). The asset catalogue (`tether export inventory`) lists them.
func ToxicPaths(a *models.AgentSpec) []ToxicPath {
	ps := pathsOf(ownLabels(a))
	var out []ToxicPath
	for i, pt := range paths {
		if ps&(1<<i) != 0 {
			out = append(out, ToxicPath{Path: pt.name, Designed: designed(pt, a)})
		}
	}
	return out
}
