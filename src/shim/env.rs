//! A container's environment and argv by the Kubernetes rules: `$(VAR)` expansion with
//! `$$` as escape, fieldRef and resourceFieldRef values, image Env overridden by the
//! container's env, and command/args replacing the image's Entrypoint/Cmd. Pure.

use std::collections::HashMap;

use crate::spec::{Container, EnvValue, FieldRef, Pod, ResourceField, ResourceFieldRef};

/// What fieldRef and resourceFieldRef values come from besides the pod itself.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// spec.nodeName: the host's name.
    pub name: String,
    pub pod_ip: String,
    pub host_ip: String,
    /// Millicores and bytes a container without a limit may use (the node's capacity).
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// Expand `$(NAME)` in `input` from `lookup`, as Kubernetes' `expansion.Expand`: `$$`
/// is a literal `$`, an unknown or unterminated reference is kept as written.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str(&rest[pos..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The container's own variables in order, each expanded from those before it.
pub fn container_env(pod: &Pod, container: &Container, node: &Node) -> Vec<(String, String)> {
    let mut defined: HashMap<String, String> = HashMap::new();
    let mut vars = Vec::new();
    for var in container.env.iter() {
        let value = match &var.value {
            EnvValue::Value(text) => expand(text, &|n| defined.get(n).cloned()),
            EnvValue::FieldRef(field) => field_value(pod, field, node),
            EnvValue::ResourceFieldRef(r) => resource_value(pod, container, r, node),
        };
        defined.insert(var.name.to_string(), value.clone());
        vars.push((var.name.to_string(), value));
    }
    vars
}

/// `NAME=value` pairs: the image's Env, each replaced by a container variable of the
/// same name, then the container's other variables in order.
pub fn merge(image_env: &[String], container: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = image_env
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (pair.clone(), String::new()),
        })
        .collect();
    for (name, value) in container {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => out.push((name.clone(), value.clone())),
        }
    }
    out.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

/// argv: command replaces Entrypoint (and then drops Cmd), args replace Cmd; the
/// container's command and args are expanded from its variables.
pub fn argv(
    container: &Container,
    entrypoint: &[String],
    cmd: &[String],
    vars: &[(String, String)],
) -> Vec<String> {
    let lookup = |n: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let expanded = |list: &[crate::spec::bounded::Text]| -> Vec<String> {
        list.iter().map(|a| expand(a, &lookup)).collect()
    };
    let (command, args) = (&container.command[..], &container.args[..]);
    match (command.is_empty(), args.is_empty()) {
        (true, true) => [entrypoint, cmd].concat(),
        (true, false) => [entrypoint.to_vec(), expanded(args)].concat(),
        (false, true) => expanded(command),
        (false, false) => [expanded(command), expanded(args)].concat(),
    }
}

fn field_value(pod: &Pod, field: &FieldRef, node: &Node) -> String {
    let find = |list: &[(crate::spec::Key, String)], key: &str| {
        list.iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    match field {
        FieldRef::Name => pod.name.to_string(),
        FieldRef::Namespace => pod.namespace().to_string(),
        FieldRef::Uid => pod.uid.as_deref().unwrap_or_default().to_string(),
        FieldRef::Label(key) => {
            let labels: Vec<_> = pod
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            find(&labels, key)
        }
        FieldRef::Annotation(key) => {
            let ann: Vec<_> = pod
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            find(&ann, key)
        }
        FieldRef::NodeName => node.name.clone(),
        FieldRef::PodIp => node.pod_ip.clone(),
        FieldRef::HostIp => node.host_ip.clone(),
    }
}

/// The resource in its unit divided by the divisor, rounded up (limits default to the
/// node's capacity, requests to 0), as the kubelet's `ExtractContainerResourceValue`.
fn resource_value(pod: &Pod, own: &Container, r: &ResourceFieldRef, node: &Node) -> String {
    let container = match &r.container_name {
        Some(name) => pod
            .spec
            .all_containers()
            .find(|c| c.name == *name)
            .unwrap_or(own),
        None => own,
    };
    let value = container
        .resources
        .as_ref()
        .and_then(|res| res.get(r.resource));
    let value = match (value, r.resource) {
        (Some(v), _) => v,
        (None, ResourceField::LimitsCpu) => node.cpu_millis,
        (None, ResourceField::LimitsMemory) => node.memory_bytes,
        (None, _) => 0,
    };
    let default_divisor = if r.resource.is_cpu() { 1000 } else { 1 };
    let divisor = r.divisor.filter(|d| *d > 0).unwrap_or(default_divisor);
    value.div_ceil(divisor).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::manifest::read;

    fn lookup(n: &str) -> Option<String> {
        [("A", "x"), ("EMPTY", "")]
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let cases = [
            ("$(A)", "x"),
            ("pre-$(A)-post", "pre-x-post"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$x"),
            ("$$$$(A)", "$$(A)"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("$", "$"),
            ("a$", "a$"),
            ("$(EMPTY)z", "z"),
            ("$()", "$()"),
            ("$(A)$(A)", "xx"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &lookup), want, "{input}");
        }
    }

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, uid: u-1, labels: {app: shop}}
spec:
  containers:
  - name: c
    image: busybox:1
    command: [sh, -c]
    args: ['echo $(GREETING) $$(HOME)']
    resources: {limits: {memory: 64Mi, cpu: 250m}}
    env:
    - {name: NAME, value: world}
    - {name: GREETING, value: 'hello $(NAME) $(UNKNOWN)'}
    - {name: PATH, value: /custom}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: MEM_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
    - name: CPU_M
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
";

    #[test]
    fn env_and_argv_of_a_container() {
        let pod = read::read_pod(POD).unwrap().pod;
        let c = &pod.spec.containers[0];
        let node = Node {
            name: "pi-01".into(),
            ..Node::default()
        };
        let vars = container_env(&pod, c, &node);
        let get = |n: &str| vars.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("GREETING"), "hello world $(UNKNOWN)");
        assert_eq!(get("POD"), "web");
        assert_eq!(get("APP"), "shop");
        assert_eq!(get("NODE"), "pi-01");
        assert_eq!(get("MEM_MI"), "64");
        assert_eq!(get("CPU"), "1");
        assert_eq!(get("CPU_M"), "250");
        let env = merge(&["PATH=/bin".into(), "HOME=/root".into()], &vars);
        assert_eq!(&env[..2], &["PATH=/custom", "HOME=/root"]);
        assert_eq!(env[2], "NAME=world");
        let argv = argv(c, &["/bin/entry".into()], &["cmd".into()], &vars);
        assert_eq!(argv, ["sh", "-c", "echo hello world $(UNKNOWN) $(HOME)"]);
    }

    #[test]
    fn command_and_args_replace_entrypoint_and_cmd() {
        let mut pod = read::read_pod(POD).unwrap().pod;
        let c = &mut pod.spec.containers.as_mut_slice()[0];
        let (ep, cmd) = (vec!["ep".to_string()], vec!["cmd".to_string()]);
        let args = std::mem::take(&mut c.args);
        assert_eq!(argv(c, &ep, &cmd, &[]), ["sh", "-c"]);
        let command = std::mem::take(&mut c.command);
        assert_eq!(argv(c, &ep, &cmd, &[]), ["ep", "cmd"]);
        c.args = args;
        assert_eq!(argv(c, &ep, &cmd, &[]), ["ep", "echo $(GREETING) $(HOME)"]);
        c.command = command;
    }
}
