package risk

import "regexp"

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

// commandPatterns judge the text of a command or code argument (see
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
var commandPatterns = []pattern{
	{ID: "cmd.rm_root", Severity: 90, Why: "recursive delete of a root, home or system directory", Keywords: []string{"rm "},
		Expr: `(?i)\brm\s+(?:-{1,2}[a-z-]+\s+)*?(?:-[a-z]*r[a-z]*|--recursive)\s+(?:-{1,2}[a-z-]+\s+)*(?:/\*?|~/?\*?|\$home/?\*?|\*|/(?:etc|usr|var|home|boot|bin|sbin|lib|lib64|opt|root|srv|sys|proc|dev)/?\*?)(?:\s|$|;|&|\|)`},
	{ID: "cmd.find_delete", Severity: 85, Why: "deletes everything a search of a root or home directory finds", Keywords: []string{"find "},
		Expr: `(?i)\bfind\s+(?:/|~|\$home)\S*\s[^|;&\n]*(?:-delete\b|-exec\s+rm\b)`},
	{ID: "cmd.windows_wipe", Severity: 85, Why: "formats a drive or deletes a drive's tree (Windows)", Keywords: []string{"format", "del ", "erase", "rd ", "rmdir"},
		Expr: `(?i)\bformat\s+[a-z]:|\b(?:del|erase)\s+(?:/[a-z]\s+)*[a-z]:\\(?:\*|\s|$)|\b(?:rd|rmdir)\s+(?:/[a-z]\s+)*[a-z]:\\?(?:\s|$)`},
	{ID: "cmd.mkfs", Severity: 90, Why: "formats a file system", Keywords: []string{"mkfs"}, Expr: `(?i)\bmkfs(?:\.[a-z0-9]+)?\s`},
	{ID: "cmd.dd_device", Severity: 90, Why: "dd writing to a block device", Keywords: []string{"dd "}, Expr: `(?i)\bdd\s[^|;&]*\bof=/dev/(?:sd|hd|nvme|xvd|vd|disk|mmcblk)`},
	{ID: "cmd.device_overwrite", Severity: 90, Why: "output redirected onto a block device", Keywords: []string{"/dev/"}, Expr: `(?i)>\s*/dev/(?:sd[a-z]|hd[a-z]|nvme\d|xvd[a-z]|vd[a-z]|disk\d|mmcblk\d)`},
	{ID: "cmd.fork_bomb", Severity: 85, Why: "fork bomb", Keywords: []string{":|:"}, Expr: `:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:`},
	{ID: "cmd.reverse_shell", Severity: 90, Why: "reverse shell", Keywords: []string{"/dev/tcp", "nc ", "ncat ", "socat ", "bash -i"},
		Expr: `(?i)/dev/(?:tcp|udp)/|\bn(?:c|cat)\b[^|;&\n]*\s-(?:e|c)\s|\bncat\b[^|;&\n]*--exec|\bsocat\b[^|;&\n]*exec:|\bbash\s+-i\s*>&`},
	{ID: "cmd.download_exec", Severity: 85, Why: "downloads code and runs it", Keywords: []string{"curl", "wget", "invoke-webrequest", "iwr ", "downloadstring"},
		Expr: `(?i)\b(?:curl|wget|invoke-webrequest|iwr)\b[^\n;&]*\|\s*(?:sudo\s+)?(?:ba|z|k|da)?sh\b|\b(?:curl|wget|invoke-webrequest|iwr)\b[^\n;&]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|iex)\b|\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)|\b(?:curl|wget)\b[^\n;|]*\s(?:-o|-O|>)\s*\S+\s*(?:;|&&)\s*(?:chmod\s+\+x|(?:ba)?sh\s|\./)|downloadstring\([^)]*\)\s*\|\s*iex|iex\s*\(\s*new-object\s+net\.webclient`},
	{ID: "cmd.decode_exec", Severity: 85, Why: "decodes hidden code and runs it", Keywords: []string{"base64"}, Expr: `(?i)base64\s+(?:-d|--decode|-D)\b[^\n;&]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b`},
	{ID: "cmd.authorized_keys", Severity: 75, Why: "adds SSH access", Keywords: []string{"authorized_keys"}, Expr: `(?i)authorized_keys`},
	{ID: "cmd.account_files", Severity: 75, Why: "touches the system's account or sudo files", Keywords: []string{"/etc/passwd", "/etc/shadow", "/etc/sudoers", "visudo", "usermod", "useradd"},
		Expr: `(?i)/etc/(?:passwd|shadow|sudoers)|\bvisudo\b|\busermod\s[^\n;&]*-a?G\s*(?:sudo|wheel|root|admin)|\buseradd\b`},
	{ID: "cmd.shred", Severity: 80, Why: "destroys data beyond recovery", Keywords: []string{"shred", "wipefs"}, Expr: `(?i)\b(?:shred|wipefs)\s`},
	{ID: "cmd.net_exfil", Severity: 75, Why: "streams data to a raw network socket", Keywords: []string{"nc ", "ncat ", "netcat "}, Expr: `(?i)\|\s*(?:nc|ncat|netcat)\s+(?:-[a-z]+\s+)*[\w.-]+\s+\d+`},
	{ID: "cmd.upload_file", Severity: 60, Why: "uploads a local file to a web address", Keywords: []string{"curl", "wget"},
		Expr: `(?i)\b(?:curl|wget)\b[^\n;|]*(?:\s-d\s*@|--data(?:-binary|-raw)?[\s=]*@|\s-F\s*["']?\w*=@|--upload-file\s|\s-T\s|--post-file[\s=])`},
	{ID: "cmd.shutdown", Severity: 60, Why: "stops or restarts the machine", Keywords: []string{"shutdown", "reboot", "halt", "poweroff", "init "}, Expr: `(?i)(?:^|[;&|]\s*|sudo\s+)(?:shutdown|reboot|halt|poweroff)\b|\binit\s+[06]\b`},
	{ID: "cmd.sql_update_all", Severity: 65, Why: "updates every row of a table", Keywords: []string{"update"}, Expr: `(?i)\bupdate\s+[\w."]+\s+set\s`, Unless: `(?i)\bwhere\b`},
	{ID: "cmd.sql_drop", Severity: 75, Why: "drops a table, database or schema", Keywords: []string{"drop "}, Expr: `(?i)\bdrop\s+(?:table|database|schema)\b`},
	{ID: "cmd.sql_truncate", Severity: 70, Why: "empties a table", Keywords: []string{"truncate"}, Expr: `(?i)\btruncate\s+(?:table\s+)?[\w."]+\s*(?:;|$)`},
	{ID: "cmd.sql_delete_all", Severity: 70, Why: "deletes every row of a table", Keywords: []string{"delete"}, Expr: `(?i)\bdelete\s+from\s+[\w."]+\s*(?:;|$)`},
	{ID: "cmd.firewall_off", Severity: 70, Why: "turns off the firewall or mandatory access control", Keywords: []string{"iptables", "ufw", "setenforce", "netsh"},
		Expr: `(?i)\biptables\s+(?:-F|--flush|-P\s+INPUT\s+ACCEPT)|\bufw\s+disable|\bsetenforce\s+0|\bnetsh\s+advfirewall\s+set\s+\w+\s+state\s+off`},
	{ID: "cmd.chmod_world", Severity: 70, Why: "makes files world-writable", Keywords: []string{"chmod"}, Expr: `(?i)\bchmod\s+(?:-[a-z]+\s+)*(?:0?777|a\+rwx|ugo\+rwx|o\+w)\b`},
	{ID: "cmd.setuid", Severity: 70, Why: "sets the set-uid bit", Keywords: []string{"chmod"}, Expr: `(?i)\bchmod\s+(?:-[a-z]+\s+)*(?:[ug]*\+s|[4-7][0-7]{3})\b`},
	{ID: "cmd.shell_rc", Severity: 65, Why: "writes a shell start-up file (persistence)", Keywords: []string{"rc", "profile"},
		Expr: `(?i)(?:>>?|\btee\s+(?:-a\s+)?)\s*["']?(?:~|\$home|/home/[\w.-]+|/root)?/?\.(?:bashrc|zshrc|profile|bash_profile|zprofile|bash_login|zshenv)\b`},
	{ID: "cmd.crontab", Severity: 60, Why: "edits scheduled jobs (persistence)", Keywords: []string{"cron"}, Expr: `(?i)\bcrontab\b|/etc/cron|/var/spool/cron`},
	{ID: "cmd.systemd", Severity: 60, Why: "installs or enables a service (persistence)", Keywords: []string{"systemctl", "systemd", "launchctl"},
		Expr: `(?i)\bsystemctl\s+(?:--\w+\s+)*(?:enable|daemon-reload|link)\b|/etc/systemd/system/|\blaunchctl\s+(?:load|bootstrap)\b`},
	{ID: "cmd.rm_recursive", Severity: 60, Why: "recursive forced delete", Keywords: []string{"rm "}, Expr: `(?i)\brm\s+(?:-{1,2}[a-z-]+\s+)*-[a-z]*(?:r[a-z]*f|f[a-z]*r)[a-z]*\b|\brm\s+--recursive\s+--force\b|\bremove-item\b[^\n;&]*-recurse[^\n;&]*-force`},
	{ID: "cmd.history_tamper", Severity: 55, Why: "hides its traces from shell history", Keywords: []string{"hist"}, Expr: `(?i)\bunset\s+histfile\b|\bhistory\s+-c\b|\bhistsize=0\b|\bhistfile=/dev/null`},
	{ID: "cmd.sudo", Severity: 50, Why: "runs as root", Keywords: []string{"sudo", "su -", "doas"}, Expr: `(?i)(?:^|[;&|(]\s*|\s)(?:sudo|doas)\s+\S|(?:^|[;&|]\s*)su\s+-`},
	{ID: "cmd.git_force_push", Severity: 50, Why: "force-pushes over shared history", Keywords: []string{"push"}, Expr: `(?i)\bgit\s+push\b[^\n;&|]*\s(?:--force\b|-f\b|--force-with-lease\b)`},
}

// pathPatterns are credential stores and system files, judged in any
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
var pathPatterns = []pattern{
	{ID: "path.ssh", Why: "SSH keys or configuration", Keywords: []string{".ssh", "id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"},
		Expr: `(?i)(?:^|[/\\~\s"'])\.ssh(?:[/\\]|$)|\bid_(?:rsa|ed25519|ecdsa|dsa)\b`},
	{ID: "path.cloud", Why: "cloud or cluster credentials", Keywords: []string{".aws", ".azure", "gcloud", ".kube", ".docker"},
		Expr: `(?i)\.aws[/\\](?:credentials|config)|\.azure[/\\]|gcloud[/\\](?:credentials|application_default_credentials|legacy_credentials)|\.kube[/\\]config|\.docker[/\\]config\.json`},
	{ID: "path.dotenv", Why: "environment file with secrets", Keywords: []string{".env"}, Expr: `(?i)(?:^|[/\\\s"'])\.env(?:\.[a-z]+)?(?:$|[\s"'])`},
	{ID: "path.netrc", Why: "stored login credentials", Keywords: []string{".netrc", ".git-credentials", ".npmrc", ".pypirc", ".pgpass"},
		Expr: `(?i)(?:^|[/\\~\s"'])\.(?:netrc|git-credentials|npmrc|pypirc|pgpass)(?:$|[\s"'])`},
	{ID: "path.gnupg", Why: "GnuPG keyring", Keywords: []string{".gnupg"}, Expr: `(?i)\.gnupg(?:[/\\]|$)`},
	{ID: "path.keyfile", Why: "private key or keystore file", Keywords: []string{".pem", ".key", ".p12", ".pfx", ".keystore", ".jks"},
		Expr: `(?i)[\w.-]+\.(?:pem|key|p12|pfx|keystore|jks)(?:$|[\s"'])`},
	{ID: "path.shadow", Why: "system password or sudo file", Keywords: []string{"/etc/shadow", "/etc/sudoers", "/etc/gshadow"}, Expr: `(?i)/etc/(?:g?shadow|sudoers)`},
	{ID: "path.environ", Why: "a process's environment (secrets)", Keywords: []string{"/environ"}, Expr: `(?i)/proc/(?:self|\d+)/environ`},
}

// systemPathPatterns are start-up, scheduling, access and system files:
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
var systemPathPatterns = []pattern{
	{ID: "sys.ssh_access", Severity: 75, Why: "grants SSH access", Keywords: []string{"authorized_keys"}, Expr: `(?i)authorized_keys2?$`},
	{ID: "sys.accounts", Severity: 75, Why: "system accounts or sudo rights", Keywords: []string{"/etc/passwd", "/etc/shadow", "/etc/sudoers"}, Expr: `(?i)^/etc/(?:passwd|shadow|sudoers(?:\.d/.*)?)$`},
	{ID: "sys.preload", Severity: 75, Why: "library preloaded into every program", Keywords: []string{"ld.so.preload"}, Expr: `(?i)/etc/ld\.so\.preload$`},
	{ID: "sys.boot", Severity: 70, Why: "boot files", Keywords: []string{"/boot/"}, Expr: `(?i)^/boot/`},
	{ID: "sys.service", Severity: 65, Why: "a service started automatically (persistence)", Keywords: []string{"systemd", "init.d", "launchagents", "launchdaemons", "autostart"},
		Expr: `(?i)/(?:etc|usr/lib|lib)/systemd/|/\.config/systemd/user/|/etc/init\.d/|/library/launch(?:agents|daemons)/|/\.config/autostart/`},
	{ID: "sys.schedule", Severity: 65, Why: "scheduled jobs (persistence)", Keywords: []string{"cron"}, Expr: `(?i)^/etc/cron|/var/spool/cron/|^/etc/crontab$`},
	{ID: "sys.shell_rc", Severity: 65, Why: "shell start-up file (persistence)", Keywords: []string{"rc", "profile", "zshenv"},
		Expr: `(?i)(?:^|/)\.(?:bashrc|zshrc|profile|bash_profile|zprofile|bash_login|zshenv)$|^/etc/(?:profile|bash\.bashrc|zsh/zshrc)$`},
	{ID: "sys.hosts", Severity: 60, Why: "host name resolution", Keywords: []string{"/etc/hosts"}, Expr: `(?i)^/etc/hosts$`},
}

// safetyPatterns are actions that switch off a physical safety or
// security device or open a physical lock, judged on the tool name plus
// its argument values (an IoT or home-automation call). Severity 55: a
// person should know.
//
//	id                 what it does
//	iot.unlock         unlocks or opens a door, lock, gate or garage
//	iot.disarm         disarms or disables an alarm, camera or security system
//	iot.safety_off     turns off a smoke/CO/gas/leak detector, sprinkler or shut-off valve
var safetyPatterns = []pattern{
	{ID: "iot.unlock", Severity: 55, Why: "opens a physical lock", Keywords: []string{"unlock", "open"},
		Expr: `(?i)\bunlock(?:ed|s|ing)?\b.{0,80}\b(?:door|lock|gate|garage|entrance|front|back)\b|\b(?:door|lock|gate|garage)s?\b.{0,80}\bunlock|\bopen(?:s|ing)?\b.{0,40}\b(?:garage|gate|front door|back door|main door)\b|\b(?:garage|gate)\b.{0,40}\bopen\b`},
	{ID: "iot.disarm", Severity: 55, Why: "disables a security device", Keywords: []string{"disarm", "disable", "deactivate", "turn off", "turn_off", "off"},
		Expr: `(?i)\b(?:disarm|disable|deactivate|turn[ _]?off|switch[ _]?off|power[ _]?off|shut[ _]?off)\w*\b.{0,80}\b(?:alarm|security|camera|cctv|surveillance|motion sensor)s?\b|\b(?:alarm|security|camera|cctv|surveillance)s?\b.{0,80}\b(?:disarm|disable|deactivate|turn[ _]?off|"?off"?)\b`},
	{ID: "iot.safety_off", Severity: 55, Why: "switches off a safety device", Keywords: []string{"smoke", "carbon monoxide", "co detector", "gas", "leak", "sprinkler", "valve"},
		Expr: `(?i)\b(?:disable|deactivate|turn[ _]?off|switch[ _]?off|mute|silence|shut[ _]?off|close)\w*\b.{0,80}\b(?:smoke|carbon monoxide|co detector|gas detector|leak|sprinkler|water valve|main valve)\b|\b(?:smoke|carbon monoxide|gas|leak|sprinkler)\b.{0,40}\b(?:detector|alarm|sensor|system)?.{0,40}\b(?:disable|deactivate|off|mute|silence)\b`},
}

// shareValues are permission targets that open a resource to everyone.
var shareValues = []string{"anyone", "anyonewithlink", "anyone_with_link", "anyone with the link", "public", "public-read",
	"public-read-write", "publicread", "everyone", "allusers", "all_users", "authenticatedusers", "world", "internet", "domain:*"}

// bulkValues are deletion targets that mean "everything".
var bulkValues = []string{"*", "all", "everything", "/", "/*", "%", ".*", "**", "*.*"}

// patternSet is compiled patterns with their keyword prefilter.
type patternSet struct {
	ps []pattern
	kw *keywordIndex
}

func compilePatterns(ps []pattern) *patternSet {
	set := &patternSet{ps: make([]pattern, len(ps)), kw: newKeywordIndex()}
	for i, p := range ps {
		p.re = regexp.MustCompile(p.Expr)
		if p.Unless != "" {
			p.unless = regexp.MustCompile(p.Unless)
		}
		set.ps[i] = p
		for _, k := range p.Keywords {
			set.kw.add(k, i)
		}
	}
	return set
}

var (
	compiledCommands = compilePatterns(commandPatterns)
	compiledPaths    = compilePatterns(pathPatterns)
	compiledSystem   = compilePatterns(systemPathPatterns)
	compiledSafety   = compilePatterns(safetyPatterns)
)

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
