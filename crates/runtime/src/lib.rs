//! berth-runtime: turns a container description into an OCI runtime spec with Docker's defaults,
//! and runs OCI bundles through youki's `libcontainer`/`libcgroups`.
//!
//! It owns: the spec rules ([`spec`]: command, env, user, capabilities, seccomp, mounts, devices,
//! resources, namespaces), host detection for those rules ([`host`]), and the low-level lifecycle
//! of one container ([`run`]: bundle, create, start, kill, pause, state, delete, wait).
//!
//! Data enters as typed Docker-shaped inputs ([`spec::SpecInput`], deserializable from an image
//! config and a `POST /containers/create` body) and leaves as an [`oci_spec::runtime::Spec`], a
//! bundle on disk, a [`run::ContainerHandle`] (pid, pidfd, raw wait status) and [`run::State`].
//!
//! It must never: talk HTTP or know about the API, touch the image store or the metadata database,
//! create networks or volumes (it takes their results as paths), map wait statuses to Docker exit
//! codes (the engine does), or run the systemd cgroup driver. Privileged calls stay inside
//! libcontainer and the few `unsafe` blocks in [`run`] and [`spec::user`].

pub mod bpf;
pub mod cli;
mod exec;
pub mod host;
pub mod run;
pub mod spec;

pub use oci_spec;
pub use run::{
    parse_signal, remove_cgroup_dirs, ConsoleSocket, ContainerHandle, RunError, Runtime, State,
    Status, Stdio, WaitStatus,
};
pub use spec::{build_spec, exec_process, ExecOptions, HostInfo, SpecError, SpecInput};
