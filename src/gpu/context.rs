//! The GPU context: adapter choice, device and queue, created once and shared by every
//! model placed on it. It can also wrap a device the host application already has.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A wgpu device and queue with what `ebm` needs to know about them.
#[derive(Clone, Debug)]
pub struct Context {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    health: Arc<Health>,
}

/// What the device's lost and uncaptured-error handlers have reported.
#[derive(Debug, Default)]
struct Health {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Option<String>>,
}

/// The backends searched when `WGPU_BACKEND` is not set: Vulkan, Metal, DX12 (not GL,
/// whose compute support is too uneven for this workload).
const DEFAULT_BACKENDS: wgpu::Backends = wgpu::Backends::PRIMARY;

fn rank(info: &wgpu::AdapterInfo) -> u8 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Which adapter to open: the backends searched and a part of the adapter's name. The
/// default reads `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`) and `WGPU_ADAPTER_NAME`
/// (a case-insensitive substring of the name), as the command line does.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterChoice {
    /// The backends to search (Vulkan, Metal and DX12 unless `WGPU_BACKEND` says).
    pub backends: wgpu::Backends,
    /// A case-insensitive part of the adapter's name; None takes the best kind there is
    /// (discrete GPUs first, then integrated, virtual and CPU adapters).
    pub name: Option<String>,
}

impl Default for AdapterChoice {
    fn default() -> Self {
        AdapterChoice {
            backends: wgpu::Backends::from_env().unwrap_or(DEFAULT_BACKENDS),
            name: std::env::var("WGPU_ADAPTER_NAME").ok(),
        }
    }
}

impl AdapterChoice {
    /// The choice of `backend`, a comma-separated list of backend names (`vulkan`,
    /// `metal`, `dx12`, `gl`), and `name`; an unknown backend name is an error naming it.
    pub fn new(backend: Option<&str>, name: Option<&str>) -> Result<AdapterChoice> {
        let mut choice = AdapterChoice::default();
        if let Some(b) = backend {
            let known = [
                "vulkan",
                "metal",
                "dx12",
                "gl",
                "webgpu",
                "primary",
                "secondary",
            ];
            let parts: Vec<&str> = b.split(',').map(str::trim).collect();
            if let Some(bad) = parts
                .iter()
                .find(|p| !known.contains(&p.to_lowercase().as_str()))
            {
                return Err(Error::config(
                    "AdapterChoice::backends",
                    format!("{bad:?} is not a backend; use vulkan, metal, dx12 or gl"),
                ));
            }
            choice.backends = wgpu::Backends::from_comma_list(b);
        }
        if let Some(n) = name {
            choice.name = Some(n.to_string());
        }
        Ok(choice)
    }
}

fn instance_for(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu sees on the backends in use, and the index of the one
/// [`Context::new`] picks (if any).
pub fn adapters() -> (Vec<wgpu::AdapterInfo>, Option<usize>) {
    adapters_for(&AdapterChoice::default())
}

/// As [`adapters`], for the backends and name of `choice`.
pub fn adapters_for(choice: &AdapterChoice) -> (Vec<wgpu::AdapterInfo>, Option<usize>) {
    let instance = instance_for(choice.backends);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
    let chosen = choose(&infos, choice.name.as_deref());
    (infos, chosen)
}

/// What the adapter `choice` picks offers, whether or not `ebm` uses it: all its features,
/// and the cooperative-matrix (tensor core) shapes wgpu reports for it (`ebm info`). None
/// when no adapter matches.
pub fn adapter_offers(
    choice: &AdapterChoice,
) -> Option<(wgpu::Features, Vec<wgpu::CooperativeMatrixProperties>)> {
    let instance = instance_for(choice.backends);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
    let adapter = &adapters[choose(&infos, choice.name.as_deref())?];
    Some((adapter.features(), adapter.cooperative_matrix_properties()))
}

/// The adapter whose name holds `name` (case-insensitive), else the best kind: discrete
/// GPUs, then integrated, virtual, and CPU adapters.
fn choose(infos: &[wgpu::AdapterInfo], name: Option<&str>) -> Option<usize> {
    let wanted = name.map(str::to_lowercase);
    infos
        .iter()
        .enumerate()
        .filter(|(_, i)| match &wanted {
            Some(w) => i.name.to_lowercase().contains(w),
            None => true,
        })
        .min_by_key(|(_, i)| rank(i))
        .map(|(k, _)| k)
}

/// The limits `ebm` asks a device for: WebGPU's defaults (or the adapter's, where it offers
/// less), raised to the adapter's for only the limits its kernels and buffers grow into
/// (workgroup memory, invocations and workgroups, buffer and binding sizes, storage buffers
/// per stage) and its alignments. The planner reads the device's limits, so it plans
/// within what was asked.
fn limits_used(adapter: &wgpu::Limits) -> wgpu::Limits {
    wgpu::Limits {
        max_compute_workgroup_storage_size: adapter.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: adapter.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: adapter.max_compute_workgroup_size_x,
        max_compute_workgroups_per_dimension: adapter.max_compute_workgroups_per_dimension,
        max_storage_buffer_binding_size: adapter.max_storage_buffer_binding_size,
        max_buffer_size: adapter.max_buffer_size,
        max_storage_buffers_per_shader_stage: adapter.max_storage_buffers_per_shader_stage,
        max_uniform_buffer_binding_size: adapter.max_uniform_buffer_binding_size,
        min_uniform_buffer_offset_alignment: adapter.min_uniform_buffer_offset_alignment,
        min_storage_buffer_offset_alignment: adapter.min_storage_buffer_offset_alignment,
        ..wgpu::Limits::default()
    }
    .or_worse_values_from(adapter)
}

impl Context {
    /// Opens the best adapter, honouring `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`)
    /// and `WGPU_ADAPTER_NAME`; fails with a clear error when none is found.
    pub fn new() -> Result<Context> {
        Context::with_choice(&AdapterChoice::default())
    }

    /// Opens the adapter `choice` picks; fails with a clear error when none matches.
    pub fn with_choice(choice: &AdapterChoice) -> Result<Context> {
        let instance = instance_for(choice.backends);
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
        let Some(k) = choose(&infos, choice.name.as_deref()) else {
            // Named as the user gave them: the environment's variables, or the choice.
            let mut why = String::new();
            match std::env::var("WGPU_BACKEND") {
                Ok(b) if wgpu::Backends::from_comma_list(&b) == choice.backends => {
                    why += &format!(" for WGPU_BACKEND={b}")
                }
                _ if choice.backends != DEFAULT_BACKENDS => {
                    why += &format!(" for backends {:?}", choice.backends)
                }
                _ => {}
            }
            if let Some(n) = &choice.name {
                let seen: Vec<_> = infos.iter().map(|i| i.name.as_str()).collect();
                match std::env::var("WGPU_ADAPTER_NAME") {
                    Ok(e) if &e == n => why += &format!(" matching WGPU_ADAPTER_NAME={n}"),
                    _ => why += &format!(" whose name holds {n:?}"),
                }
                why += &format!(" (seen: {seen:?})");
            }
            return Err(Error::NoAdapter(why));
        };
        let adapter = &adapters[k];
        let info = adapter.get_info();
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let desc = wgpu::DeviceDescriptor {
            label: Some("ebm"),
            required_features: adapter.features() & wanted,
            required_limits: limits_used(&adapter.limits()),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&desc)).map_err(|source| {
                Error::RequestDevice {
                    adapter: info.name.clone(),
                    source,
                }
            })?;
        let health = Arc::new(Health::default());
        // A lost device (driver reset, watchdog, Device::destroy) and errors no error scope
        // caught become errors of the next call, never a panic (wgpu's default for
        // uncaptured errors) or a hang.
        let lost = Arc::clone(&health);
        device.set_device_lost_callback(move |reason, message| {
            let what = match message.is_empty() {
                true => format!("{reason:?}"),
                false => format!("{reason:?}: {message}"),
            };
            *lost.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(what);
        });
        let uncaptured = Arc::clone(&health);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            log::error!("uncaptured GPU error: {error}");
            *uncaptured
                .uncaptured
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        }));
        Ok(Context {
            device,
            queue,
            info,
            health,
        })
    }

    /// Wraps a device and queue the host application created: `ebm` then shares its
    /// memory and submission queue. GPU timings need `Features::TIMESTAMP_QUERY` on it.
    /// The device's lost and uncaptured-error handlers stay the application's: `ebm`
    /// catches its own errors in error scopes, and a lost device shows as a failed wait.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Context {
        let info = device.adapter_info();
        Context {
            device,
            queue,
            info,
            health: Arc::default(),
        }
    }

    /// Why the device was lost, if it was (only known for contexts from [`Context::new`]).
    pub fn lost(&self) -> Option<String> {
        self.health
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The GPU error no error scope caught since the last call, if any.
    pub(crate) fn take_uncaptured(&self) -> Option<String> {
        self.health
            .uncaptured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Waits for submission `index` to finish; a lost device or a failed wait is an error.
    pub(crate) fn wait(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        let result = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: None,
        });
        if result.is_err() {
            // A lost device fails the wait before its callback has run: let it run.
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        self.check_alive()?;
        result.map(|_| ()).map_err(|e| Error::Gpu {
            stage: "waiting for the GPU",
            message: e.to_string(),
        })
    }

    /// Runs `work`, one call's GPU work, inside validation and out-of-memory error scopes:
    /// what a scope caught, an uncaptured error or a lost device is an error naming
    /// `stage`. A lost device comes first, then the work's own error.
    pub(crate) fn guarded<T>(
        &self,
        stage: &'static str,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.check_alive()?;
        // An uncaptured error left from before this call is not this call's.
        let _ = self.take_uncaptured();
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let validation = pollster::block_on(scope.pop());
        let memory = pollster::block_on(oom.pop());
        self.check_alive()?;
        let caught = validation
            .map(|e| e.to_string())
            .or(memory.map(|e| e.to_string()));
        let value = match (result, &caught) {
            // A submission that failed validation fails the wait on it ("a submission
            // index that has not been returned by a successful submission"): the scope's
            // error is the cause, and the one worth reporting.
            (Err(Error::Gpu { .. }), Some(message)) => {
                return Err(Error::Gpu {
                    stage,
                    message: message.clone(),
                })
            }
            (result, _) => result?,
        };
        match caught.or_else(|| self.take_uncaptured()) {
            Some(message) => Err(Error::Gpu { stage, message }),
            None => Ok(value),
        }
    }

    /// An error if the device was lost.
    pub(crate) fn check_alive(&self) -> Result<()> {
        match self.lost() {
            Some(reason) => Err(Error::DeviceLost {
                adapter: self.info.name.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The adapter in use.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// The device's enabled features.
    pub fn features(&self) -> wgpu::Features {
        self.device.features()
    }

    /// The device, for applications that want to share it.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }
}
