// Command validate checks Kubernetes manifests against the Kubernetes API
// types (k8s.io/api): every document is decoded strictly into the type its
// apiVersion/kind names, so an unknown field, a wrong type or an unknown
// kind fails; then a few rules the types cannot express (images, probes,
// non-root, selectors matching the pod labels) are checked. It is a separate
// module so that Tether's own go.mod does not carry the Kubernetes API.
//
//	go -C deploy/k8s/validate run . ../tether.yaml
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func main() {
	var failed bool
	for _, path := range os.Args[1:] {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			kind, err := check(doc)
			if err != nil {
				failed = true
				fmt.Printf("%s document %d: %v\n", path, i+1, err)
				continue
			}
			fmt.Printf("%s document %d: %s valid\n", path, i+1, kind)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func check(doc []byte) (string, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", err
	}
	key := tm.APIVersion + "/" + tm.Kind
	var obj any
	switch key {
	case "v1/ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return key, fmt.Errorf("unsupported apiVersion/kind %q", key)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return key, fmt.Errorf("%s: %w", key, err)
	}
	if m, ok := obj.(interface{ GetName() string }); ok && m.GetName() == "" {
		return key, fmt.Errorf("%s: metadata.name is required", key)
	}
	var errs []string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil || o.Spec.Selector == nil {
			errs = append(errs, fmt.Sprintf("selector: %v", err))
		} else if !sel.Matches(labels.Set(o.Spec.Template.Labels)) {
			errs = append(errs, "spec.selector does not match the pod template's labels")
		}
		ps := o.Spec.Template.Spec
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			errs = append(errs, "pod must set securityContext.runAsNonRoot")
		}
		vols := map[string]bool{}
		for _, v := range ps.Volumes {
			vols[v.Name] = true
		}
		if len(ps.Containers) == 0 {
			errs = append(errs, "no containers")
		}
		for _, c := range ps.Containers {
			if c.Name == "" || c.Image == "" {
				errs = append(errs, "container without name or image")
			}
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				errs = append(errs, fmt.Sprintf("container %s: liveness and readiness probes required", c.Name))
			}
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					errs = append(errs, fmt.Sprintf("container %s mounts unknown volume %q", c.Name, m.Name))
				}
			}
		}
	case *corev1.Service:
		if len(o.Spec.Selector) == 0 || len(o.Spec.Ports) == 0 {
			errs = append(errs, "service needs a selector and ports")
		}
	case *policyv1.PodDisruptionBudget:
		if o.Spec.Selector == nil {
			errs = append(errs, "pod disruption budget needs a selector")
		}
	}
	if len(errs) > 0 {
		return key, fmt.Errorf("%s %s", key, strings.Join(errs, "; "))
	}
	return key, nil
}
