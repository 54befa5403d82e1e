package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the server's whole configuration, one typed struct. LoadConfig
// fills it from, in order of precedence, flags > TROIKA_* environment
// variables > an optional strict YAML file > Defaults.
type Config struct {
	// Addr is the listen address; default 127.0.0.1:7600. A non-loopback
	// address is refused unless tokens are configured.
	Addr string `yaml:"addr"`
	// Data is the embedded store's data directory; default ./troika-data.
	Data string `yaml:"data"`
	// Postgres, when set, is the PostgreSQL connection URL of the store
	// (instead of the embedded store in Data); env TROIKA_POSTGRES_URL.
	// Many servers may share one database.
	Postgres string `yaml:"postgres"`
	// PostgresSchema is the schema of Troika's tables; default "troika".
	PostgresSchema string `yaml:"postgresSchema"`
	// TokensFile names a YAML file of token hashes (see TokenSpec).
	TokensFile string `yaml:"tokensFile"`
	// Tokens are token hashes given inline in the YAML config.
	Tokens []TokenSpec `yaml:"tokens"`
	// TLSCert and TLSKey are PEM files; both or neither. With them the
	// server speaks HTTPS (HTTP/2 and HTTP/1.1).
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	// MaxBodyBytes bounds one request body; default 8 MiB.
	MaxBodyBytes int `yaml:"maxBodyBytes"`
	// MaxHeaderBytes bounds the request headers; default 64 KiB.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// ReadHeaderTimeout bounds reading the headers (slowloris); default 5s.
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// ReadTimeout bounds reading a whole request; default 30s.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// IdleTimeout closes idle keep-alive connections; default 120s.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// ShutdownTimeout bounds the drain on SIGTERM; default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// MaxClaim caps Claim's max; default 1,000.
	MaxClaim int `yaml:"maxClaim"`
	// MaxWait caps Claim's waitSeconds; default 60s.
	MaxWait time.Duration `yaml:"maxWait"`
	// MaxBatch caps the items of one EnqueueMany, Heartbeat, Complete,
	// Fail or Snooze call; default 10,000.
	MaxBatch int `yaml:"maxBatch"`
	// SweepInterval is how often maintenance runs (lease rescue,
	// promotion, retention); default 1s.
	SweepInterval time.Duration `yaml:"sweepInterval"`

	// env is the environment LoadConfig read (for token variables); nil
	// means os.LookupEnv.
	env func(string) (string, bool)
}

// TokenSpec is one accepted bearer token, stored as the hex SHA-256 of the
// token (`printf %s "$TOKEN" | sha256sum`), never in clear.
type TokenSpec struct {
	// Name identifies the token in logs.
	Name string `yaml:"name"`
	// Scope is producer, worker or admin.
	Scope string `yaml:"scope"`
	// SHA256 is the lowercase hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
	// Queues limits a worker token to these queues (empty: all).
	Queues []string `yaml:"queues"`
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Addr: "127.0.0.1:7600", Data: "./troika-data",
		MaxBodyBytes: 8 << 20, MaxHeaderBytes: 64 << 10,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		ShutdownTimeout: 30 * time.Second, MaxClaim: 1000, MaxWait: 60 * time.Second, MaxBatch: 10000,
		SweepInterval: time.Second,
	}
}

// configField is one setting settable by flag and environment variable.
type configField struct {
	flag string // flag name; the env variable is TROIKA_ + upper snake case
	set  func(c *Config, v string) error
}

// envAliases names the variables whose name is not TROIKA_ + the flag.
var envAliases = map[string]string{"postgres": "TROIKA_POSTGRES_URL"}

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func num(p func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p(c) = n
		return nil
	}
}

func dur(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s)", v)
		}
		*p(c) = d
		return nil
	}
}

// ConfigFields lists the settable fields by flag name, in a stable order.
// cmd/troika registers one flag per entry; LoadConfig reads the matching
// TROIKA_ variables.
var configFields = []configField{
	{"addr", str(func(c *Config) *string { return &c.Addr })},
	{"data", str(func(c *Config) *string { return &c.Data })},
	{"postgres", str(func(c *Config) *string { return &c.Postgres })},
	{"postgres-schema", str(func(c *Config) *string { return &c.PostgresSchema })},
	{"tokens-file", str(func(c *Config) *string { return &c.TokensFile })},
	{"tls-cert", str(func(c *Config) *string { return &c.TLSCert })},
	{"tls-key", str(func(c *Config) *string { return &c.TLSKey })},
	{"max-body-bytes", num(func(c *Config) *int { return &c.MaxBodyBytes })},
	{"max-header-bytes", num(func(c *Config) *int { return &c.MaxHeaderBytes })},
	{"read-header-timeout", dur(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
	{"read-timeout", dur(func(c *Config) *time.Duration { return &c.ReadTimeout })},
	{"idle-timeout", dur(func(c *Config) *time.Duration { return &c.IdleTimeout })},
	{"shutdown-timeout", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"max-claim", num(func(c *Config) *int { return &c.MaxClaim })},
	{"max-wait", dur(func(c *Config) *time.Duration { return &c.MaxWait })},
	{"max-batch", num(func(c *Config) *int { return &c.MaxBatch })},
	{"sweep-interval", dur(func(c *Config) *time.Duration { return &c.SweepInterval })},
}

// FlagNames returns the names of the flags LoadConfig understands.
func FlagNames() []string {
	out := make([]string, len(configFields))
	for i, f := range configFields {
		out[i] = f.flag
	}
	return out
}

// EnvName returns the environment variable of a flag: TROIKA_ + the name in
// upper snake case (tls-cert: TROIKA_TLS_CERT), except postgres:
// TROIKA_POSTGRES_URL.
func EnvName(flag string) string {
	if name, ok := envAliases[flag]; ok {
		return name
	}
	return "TROIKA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// LoadOptions are the sources of LoadConfig.
type LoadOptions struct {
	// File is the YAML config file; "" for none. Unknown keys are errors.
	File string
	// Env looks environment variables up; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Flags holds the flags the user set, by name (see FlagNames).
	Flags map[string]string
}

// LoadConfig builds the Config: defaults, then the YAML file, then the
// environment, then flags; then it reads the tokens and validates the
// whole. Every error names its source and setting.
func LoadConfig(o LoadOptions) (Config, error) {
	c := Defaults()
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.File != "" {
		b, err := os.ReadFile(o.File)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		if err := decodeStrict(b, &c); err != nil {
			return c, fmt.Errorf("config file %s: %w", o.File, err)
		}
	}
	for _, f := range configFields {
		if v, ok := o.Env(EnvName(f.flag)); ok {
			if err := f.set(&c, v); err != nil {
				return c, fmt.Errorf("environment %s: %w", EnvName(f.flag), err)
			}
		}
	}
	for name, v := range o.Flags {
		i := slices.IndexFunc(configFields, func(f configField) bool { return f.flag == name })
		if i < 0 {
			return c, fmt.Errorf("flag --%s: not a server setting", name)
		}
		if err := configFields[i].set(&c, v); err != nil {
			return c, fmt.Errorf("flag --%s: %w", name, err)
		}
	}
	c.env = o.Env
	return c, c.Validate()
}

// decodeStrict decodes YAML into v, refusing unknown keys and trailing
// documents.
func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

// Validate checks the configuration: limits positive, TLS files paired,
// and no non-loopback address without tokens (DESIGN §2.8). Tokens are
// checked by Tokens.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("addr: empty")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("addr %q: %v", c.Addr, err)
	}
	for name, v := range map[string]int{"max-body-bytes": c.MaxBodyBytes, "max-header-bytes": c.MaxHeaderBytes, "max-claim": c.MaxClaim, "max-batch": c.MaxBatch} {
		if v <= 0 {
			return fmt.Errorf("%s: %d must be positive", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"read-header-timeout": c.ReadHeaderTimeout, "read-timeout": c.ReadTimeout,
		"idle-timeout": c.IdleTimeout, "shutdown-timeout": c.ShutdownTimeout, "max-wait": c.MaxWait, "sweep-interval": c.SweepInterval} {
		if v <= 0 {
			return fmt.Errorf("%s: %s must be positive", name, v)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key: give both or neither")
	}
	toks, err := c.LoadTokens()
	if err != nil {
		return err
	}
	if toks.Empty() && !isLoopback(host) {
		return fmt.Errorf("addr %q is not a loopback address: without tokens the server only listens on loopback; configure tokens (--tokens-file or TROIKA_ADMIN_TOKEN…) to listen on %s", c.Addr, host)
	}
	return nil
}

// isLoopback reports whether host names only loopback interfaces.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
