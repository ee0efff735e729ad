//! `pealet agent`: reads the settings (flags, `PEALET_*`, the config file) and runs the
//! device's main loop of `crate::agent` until SIGTERM or SIGINT.

use lexopt::prelude::*;

use super::{CliError, globals, remote};
use crate::config::{Flags, Settings};
use crate::store::Store;

pub const AGENT_HELP: &str = "\
Usage: pealet agent [--node NAME] [--broker URL] [--manifests DIR] [settings]

Runs this device's pods: the desired pods the broker holds for node NAME (default:
the hostname), stored under --root so that they start again after a reboot with no
broker, and the static pods of the manifests directory (YAML or JSON, run without any
broker, annotated pealet.io/static=true, never changed over MQTT). Without a broker
only static pods run. Reports pod statuses, node status (heartbeat) and events.

On start the agent re-adopts the pods whose shims still run: restarting the agent
never restarts a container. SIGTERM or SIGINT stops the agent and leaves the pods
running; the node is then reported offline.

The node's name is stored under --root at the first start: a later change of the
hostname does not rename the node, and a different --node is refused (the pods stored
for the old name could never be deleted under the new one) unless --rename-from names
the old name.

Options:
  --node NAME               node name (default: the hostname)
  --rename-from OLD         the node was called OLD: its stored pods move over to NAME
  --manifests DIR           static pod manifests (default /etc/pealet/manifests)
  --heartbeat SECONDS       node status interval (default 60)
  --allow-privileged BOOL   admit privileged containers from the broker
                            (default false)
  --allow-host-namespaces BOOL
                            admit hostNetwork/hostPID/hostIPC from the broker
                            (default false)
  --allow-host-path BOOL    admit hostPath volumes from the broker (default false)
  --host-path-prefixes LIST where hostPath is admitted: only under these (comma
                            list; default: anywhere)
Static pods of the manifests directory (only root on the device writes there) are
admitted with all of these.
  --trusted-keys LIST       public keys (comma list of ed25519:...; pealet keygen
                            prints them) whose signatures this node trusts; once any
                            is set, unsigned, badly signed and replayed desired state
                            is refused with a Warning Event (what runs keeps running)
  --reserved-cpu QUANTITY   kept back from allocatable (e.g. 200m; default 0)
  --reserved-memory QUANTITY
                            kept back from allocatable (e.g. 128Mi; default 0)
  --registry-auth-file FILE registry credentials, a Docker config.json (its auths)
  --seccomp-default BOOL    containers without a seccompProfile get RuntimeDefault
                            (default false; true in the config install.sh writes)
  --allowed-unsafe-sysctls LIST
                            sysctls beyond the safe set pods may set (comma list of
                            names or prefix*; default none)
Config file keys: broker, node, prefix, manifests, heartbeat, keep_alive,
connect_timeout, reconnect_max, mqtt_version, username,
password_file, tls.ca_file, tls.cert_file, tls.key_file, allow_privileged,
allow_host_namespaces, allow_host_path, host_path_prefixes (a list), trusted_keys (a
list), reserved_cpu, reserved_memory, registry_auth_file, seccomp_default,
allowed_unsafe_sysctls (a list), and per registry [registries.\"HOST\"] sections with mirrors (a
list, tried in order), insecure (plain HTTP) and ca_file.
";

pub fn agent(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut flags = Flags::default();
    let mut rename_from = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("rename-from") => rename_from = Some(args.value()?.string()?),
            Long(n) if Flags::takes(n) => {
                let n = n.to_owned();
                remote::setting(&mut flags, &n, &mut args)?;
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let mut settings = Settings::load(&flags).map_err(remote::failed)?;
    let g = globals();
    let paths = crate::agent::Paths {
        root: g.root.clone(),
        run_dir: g.run_dir.clone(),
    };
    let store = Store::open(&paths.root).map_err(remote::failed)?;
    let wanted = settings.node_name().map_err(remote::failed)?;
    let explicit = settings.node.is_some();
    let name = store.claim_node(&wanted, explicit, rename_from.as_deref());
    settings.node = Some(name.map_err(remote::failed)?);
    crate::agent::run(&settings, &paths).map_err(remote::failed)
}
