package risk

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/tetherhq/tether/detector/rules"
)

// pattern is one documented argument pattern: a regular expression run
// only on values that contain one of its keywords (lower case), so most
// values cost one keyword scan and no regular expression.
type pattern struct {
	ID       string
	Severity uint8
	Why      string
	Keywords []string
	Expr     string
	// Unless, when set, vetoes a match when it also matches the value
	// (RE2 has no negative look-ahead).
	Unless string
	re     *regexp.Regexp
	unless *regexp.Regexp
}

// risk.command_patterns judge the text of a command or code argument (see
// Observe for when a value counts as one). Severity is the danger of the
// action if it runs, set once here.
//
//	id                     sev  what it does
//	cmd.rm_root            90   recursive delete of /, ~, $HOME, * or a system directory
//	cmd.find_delete        85   find over / or ~ with -delete or -exec rm
//	cmd.windows_wipe       85   format C:, del /s C:\, rd /s C:\
//	cmd.mkfs               90   formats a file system
//	cmd.dd_device          90   dd writing to a block device
//	cmd.device_overwrite   90   redirects output onto a block device
//	cmd.fork_bomb          85   fork bomb
//	cmd.reverse_shell      90   reverse shell (/dev/tcp, nc -e, socat exec, bash -i >&)
//	cmd.download_exec      85   download piped into a shell or interpreter
//	cmd.decode_exec        85   base64-decoded text piped into a shell
//	cmd.authorized_keys    75   adds SSH access (authorized_keys)
//	cmd.account_files      75   touches /etc/passwd, /etc/shadow or /etc/sudoers
//	cmd.shred              80   shred / wipefs
//	cmd.net_exfil          75   pipes data into nc/ncat/netcat host port
//	cmd.sql_drop           75   DROP TABLE|DATABASE|SCHEMA
//	cmd.sql_truncate       70   TRUNCATE TABLE
//	cmd.sql_delete_all     70   DELETE FROM without WHERE
//	cmd.sql_update_all     65   UPDATE … SET without WHERE
//	cmd.firewall_off       70   flushes the firewall or disables SELinux/ufw
//	cmd.chmod_world        70   chmod 777 / a+rwx (world-writable)
//	cmd.setuid             70   chmod u+s / 4xxx (set-uid)
//	cmd.shell_rc           65   appends to a shell start-up file (persistence)
//	cmd.crontab            60   edits cron (persistence)
//	cmd.systemd            60   installs or enables a systemd unit (persistence)
//	cmd.rm_recursive       60   any other recursive forced delete
//	cmd.upload_file        60   curl/wget uploading a local file (-d @file, -F x=@file, -T)
//	cmd.shutdown           60   shutdown, reboot, halt, poweroff, init 0/6
//	cmd.history_tamper     55   clears or disables shell history
//	cmd.sudo               50   runs as root
//	cmd.git_force_push     50   force-pushes over shared history
// (the list is risk.command_patterns in detector/rules/default.yaml)

// risk.path_patterns are credential stores and system files, judged in any
// argument value. Reading one is sensitive (below the alert threshold on
// its own); one in an outgoing or executing call is exfiltration-shaped
// (see Severities).
//
//	id                 what it is
//	path.ssh           ~/.ssh keys and config, id_rsa/id_ed25519/id_ecdsa
//	path.cloud         ~/.aws, ~/.azure, gcloud credentials, ~/.kube/config, ~/.docker/config.json
//	path.dotenv        .env files
//	path.netrc         .netrc, .git-credentials, .npmrc, .pypirc, .pgpass
//	path.gnupg         ~/.gnupg
//	path.keyfile       *.pem, *.key, *.p12, *.pfx, *.keystore, *.jks
//	path.shadow        /etc/shadow, /etc/sudoers
//	path.environ       /proc/*/environ
// (the list is risk.path_patterns in detector/rules/default.yaml)

// risk.system_path_patterns are start-up, scheduling, access and system files:
// writing or deleting one changes how the machine behaves or who can log
// in (persistence, privilege, redirection). Judged on a path argument of a
// call that writes (a payload argument) or destroys.
//
//	id                    sev  what it is
//	sys.ssh_access        75   authorized_keys
//	sys.accounts          75   /etc/passwd, /etc/shadow, /etc/sudoers(.d)
//	sys.preload           75   /etc/ld.so.preload
//	sys.boot              70   /boot/
//	sys.service           65   systemd units, init.d, LaunchAgents/LaunchDaemons, autostart
//	sys.schedule          65   cron tables
//	sys.shell_rc          65   shell start-up files (.bashrc, .zshrc, .profile, …)
//	sys.hosts             60   /etc/hosts (name resolution)
// (the list is risk.system_path_patterns in detector/rules/default.yaml)

// risk.safety_patterns are actions that switch off a physical safety or
// security device or open a physical lock, judged on the tool name plus
// its argument values (an IoT or home-automation call). Severity 55: a
// person should know.
//
//	id                 what it does
//	iot.unlock         unlocks or opens a door, lock, gate or garage
//	iot.disarm         disarms or disables an alarm, camera or security system
//	iot.safety_off     turns off a smoke/CO/gas/leak detector, sprinkler or shut-off valve
// (the list is risk.safety_patterns in detector/rules/default.yaml)

// shareValues are permission targets that open a resource to everyone
// ("*" as the grantee of a permission or policy: every principal).
var shareValues = []string{"anyone", "anyonewithlink", "anyone_with_link", "anyone with the link", "public", "public-read",
	"public-read-write", "publicread", "everyone", "allusers", "all_users", "authenticatedusers", "world", "internet", "domain:*", "*"}

// elevatedValues are access levels of a grant that let the grantee change,
// delete or reshare the resource, not only read it.
var elevatedValues = []string{"writer", "write", "editor", "edit", "owner", "admin", "administrator", "organizer",
	"fileorganizer", "contributor", "maintainer", "manager", "manage", "full", "full_access", "fullaccess",
	"read_write", "read-write", "readwrite", "rw", "co-owner", "coowner"}

// bulkValues are deletion targets that mean "everything".
var bulkValues = []string{"*", "all", "everything", "/", "/*", "%", ".*", "**", "*.*"}

// patternSet is compiled patterns with their keyword prefilter.
type patternSet struct {
	ps []pattern
	kw *keywordIndex
}

func compilePatterns(ps []rules.Pattern) (*patternSet, error) {
	set := &patternSet{ps: make([]pattern, len(ps)), kw: newKeywordIndex()}
	for i, rp := range ps {
		p := pattern{ID: rp.ID, Severity: rp.Severity, Why: rp.Why, Keywords: rp.Keywords, Expr: rp.Expr, Unless: rp.Unless}
		var err error
		if p.re, err = regexp.Compile(p.Expr); err != nil {
			return nil, fmt.Errorf("%w: pattern %s: %w", ErrPatterns, p.ID, err)
		}
		if p.Unless != "" {
			if p.unless, err = regexp.Compile(p.Unless); err != nil {
				return nil, fmt.Errorf("%w: pattern %s: %w", ErrPatterns, p.ID, err)
			}
		}
		set.ps[i] = p
		for _, k := range p.Keywords {
			set.kw.add(k, i)
		}
	}
	return set, nil
}

// The ruleset's pattern lists the detector reads.
const (
	// ListCommandPatterns names the dangerous-command patterns.
	ListCommandPatterns = "risk.command_patterns"
	// ListPathPatterns names the credential-store and system-file patterns.
	ListPathPatterns = "risk.path_patterns"
	// ListSystemPathPatterns names the start-up, access and system files.
	ListSystemPathPatterns = "risk.system_path_patterns"
	// ListSafetyPatterns names the physical safety-device actions.
	ListSafetyPatterns = "risk.safety_patterns"
)

// ErrPatterns reports a pattern list the detector cannot use.
var ErrPatterns = errors.New("risk: invalid pattern list")

// Patterns is the compiled pattern tables, built once from a ruleset
// (NewPatterns) and shared read-only by detectors.
type Patterns struct {
	commands, paths, system, safety *patternSet
}

// NewPatterns compiles the risk.* pattern lists of r (nil: the default
// ruleset). Every list must be present and non-empty.
func NewPatterns(r *rules.Ruleset) (*Patterns, error) {
	if r == nil {
		r = rules.Default()
	}
	p := &Patterns{}
	for _, l := range []struct {
		name string
		dst  **patternSet
	}{{ListCommandPatterns, &p.commands}, {ListPathPatterns, &p.paths}, {ListSystemPathPatterns, &p.system}, {ListSafetyPatterns, &p.safety}} {
		ps := r.Patterns(l.name)
		if len(ps) == 0 {
			return nil, fmt.Errorf("%w: list %s is missing or empty", ErrPatterns, l.name)
		}
		set, err := compilePatterns(ps)
		if err != nil {
			return nil, err
		}
		*l.dst = set
	}
	return p, nil
}

// defaultPatterns is the default ruleset's tables, compiled once.
var defaultPatterns = func() *Patterns {
	p, err := NewPatterns(nil)
	if err != nil {
		panic(err) // the embedded default ruleset is tested
	}
	return p
}()

// first returns the first pattern (in table order) one of whose keywords
// occurs in lower (val in ASCII lower case) and whose expression matches
// val.
func (s *patternSet) first(val string, lower []byte) *pattern {
	best := -1
	s.kw.each(lower, func(targets []int) {
		for _, t := range targets {
			if p := &s.ps[t]; (best < 0 || t < best) && p.re.MatchString(val) && (p.unless == nil || !p.unless.MatchString(val)) {
				best = t
			}
		}
	})
	if best < 0 {
		return nil
	}
	return &s.ps[best]
}

// shellStarters are programs whose name opening a value marks it as a
// command line even when neither the tool nor the argument says so.
var shellStarters = setOf("sudo", "rm", "curl", "wget", "chmod", "chown", "dd", "mkfs", "bash", "sh", "zsh", "python", "python3",
	"perl", "ruby", "node", "crontab", "systemctl", "ssh", "scp", "nc", "ncat", "socat", "git", "echo", "cat", "tee", "kill", "pkill",
	"iptables", "ufw", "useradd", "usermod", "shred", "powershell", "pwsh", "cmd", "psql", "mysql", "sqlite3", "docker", "kubectl", "apt", "apt-get", "yum", "pip", "npm", "base64", "eval", "exec")

func setOf(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}
