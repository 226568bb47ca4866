//! Adapter profiles: the limits and subgroup sizes real adapters report through wgpu 30,
//! as data, so the kernel planner's choices for GPUs we do not have can be computed and
//! checked in tests. Each number says where it comes from.
//!
//! How wgpu 30 turns native values into [`wgpu::Limits`] (read in wgpu-hal 30.0.1 and
//! wgpu-core 30.0.1; every profile below goes through the same steps):
//!
//! 1. The backend's adapter code maps native limits (`vulkan/adapter.rs`
//!    `PhysicalDeviceProperties::to_wgpu_limits`, `metal/adapter.rs`
//!    `CapabilitiesQuery::capabilities`, `dx12/adapter.rs` `Adapter::expose`).
//! 2. `auxil::adjust_raw_limits` (wgpu-hal `auxil/mod.rs`) then: clamps each
//!    `max_compute_workgroup_size_*` to `max_compute_invocations_per_workgroup`; raises
//!    both offset alignments to at least 32; clamps the uniform and storage binding sizes to
//!    `max_buffer_size`; rounds the storage binding size down to a multiple of 4.
//! 3. wgpu-core `Instance::adjust_limits_for_indirect_validation` caps `max_buffer_size`
//!    and the uniform binding size at `u32::MAX` and the storage binding size at
//!    `u32::MAX & !3` while `InstanceFlags::VALIDATION_INDIRECT_CALL` is set, which is the
//!    default in debug and release builds (`InstanceFlags::from_build_config`) unless
//!    `WGPU_VALIDATION_INDIRECT_CALL=0`.
//!
//! On Vulkan, `max_buffer_size` is min(maintenance4 `maxBufferSize`, maintenance3
//! `maxMemoryAllocationSize`) further capped at `i32::MAX` on Linux/Android for every vendor
//! but NVIDIA (2^52 otherwise); `max_storage_buffer_binding_size` is
//! min(`maxStorageBufferRange`, `i32::MAX`); `max_compute_workgroups_per_dimension` is the
//! smallest of the three `maxComputeWorkGroupCount` entries; `subgroup_min_size` /
//! `subgroup_max_size` are `VkPhysicalDeviceSubgroupSizeControlProperties::{min,max}SubgroupSize`;
//! `Features::SUBGROUP` needs Vulkan 1.3 (or `VK_EXT_subgroup_size_control`), the basic,
//! vote, arithmetic, ballot, shuffle, shuffle-relative and quad operations, and support in
//! the compute and fragment stages. `max_storage_buffers_per_shader_stage` is
//! min(`maxPerStageDescriptorStorageBuffers`, `maxDescriptorSetStorageBuffers / 2`), then
//! shared out (`auxil::cap_limits_to_be_under_the_sum_limit`) under `maxPerStageResources`
//! and `maxPerSetDescriptors / 2` with the other per-stage binding limits.
//!
//! Fields not listed in a profile keep `wgpu::Limits::default()`: the planner does not read
//! them.

/// What the planner reads of an adapter.
#[derive(Clone, Debug)]
pub struct AdapterProfile {
    /// A short name, e.g. "NVIDIA H100 (Vulkan)".
    pub name: &'static str,
    /// The backend it is reached through.
    pub backend: wgpu::Backend,
    /// Discrete, integrated, CPU...
    pub device_type: wgpu::DeviceType,
    /// Device limits as wgpu reports them (`Adapter::limits`).
    pub limits: wgpu::Limits,
    /// Whether wgpu exposes `Features::SUBGROUP` there.
    pub subgroups: bool,
    /// `AdapterInfo::subgroup_min_size`.
    pub subgroup_min_size: u32,
    /// `AdapterInfo::subgroup_max_size`.
    pub subgroup_max_size: u32,
}

/// The strings and vendor ID an adapter reports in `wgpu::AdapterInfo`, kept beside the
/// profile they belong to and found by the profile's name.
struct NativeInfo {
    /// The profile's `AdapterProfile::name`.
    profile: &'static str,
    /// `AdapterInfo::name`.
    name: &'static str,
    /// `AdapterInfo::driver`.
    driver: &'static str,
    /// `AdapterInfo::driver_info`.
    driver_info: &'static str,
    /// `AdapterInfo::vendor` (PCI vendor ID, Mesa's ID for lavapipe, 0 where the backend
    /// leaves it empty).
    vendor: u32,
}

impl AdapterProfile {
    /// The `wgpu::AdapterInfo` the planner would see: name, backend, device type, subgroup
    /// sizes, driver strings and vendor (driver "llvmpipe" for lavapipe, so that
    /// `plan::is_llvmpipe` recognises it).
    ///
    /// A profile not in [`all`] (e.g. a test's modified copy under a new name) gets its
    /// `name` as the adapter name and empty driver strings.
    pub fn info(&self) -> wgpu::AdapterInfo {
        let mut info = wgpu::AdapterInfo::new(self.device_type, self.backend);
        match NATIVE.iter().find(|n| n.profile == self.name) {
            Some(n) => {
                info.name = n.name.to_string();
                info.driver = n.driver.to_string();
                info.driver_info = n.driver_info.to_string();
                info.vendor = n.vendor;
            }
            None => info.name = self.name.to_string(),
        }
        info.subgroup_min_size = self.subgroup_min_size;
        info.subgroup_max_size = self.subgroup_max_size;
        info
    }
}

/// Every profile, in this order: NVIDIA H100 (Vulkan), Apple M2 (Metal), AMD RX 7900 XTX
/// (Vulkan, RADV), Intel UHD 770 / Xe-LP (DX12), lavapipe (Vulkan, CPU), WebGPU's defaults.
pub fn all() -> Vec<AdapterProfile> {
    vec![
        nvidia_h100_vulkan(),
        apple_m2_metal(),
        amd_rx7900xtx_radv(),
        intel_xe_lp_dx12(),
        lavapipe(),
        webgpu_defaults(),
    ]
}

/// The least an adapter may offer: WebGPU's default limits (`wgpu::Limits::default()`: 8
/// storage buffers per stage, 16 KiB of workgroup memory, 256 invocations per workgroup,
/// 128 MiB bindings), no subgroups. A browser's WebGPU gives exactly these unless asked for
/// more; every workload must plan and run within them.
pub fn webgpu_defaults() -> AdapterProfile {
    AdapterProfile {
        name: "WebGPU defaults",
        backend: wgpu::Backend::BrowserWebGpu,
        device_type: wgpu::DeviceType::Other,
        limits: wgpu::Limits::default(),
        subgroups: false,
        subgroup_min_size: 0,
        subgroup_max_size: 0,
    }
}

/// NVIDIA H100 PCIe (Hopper) through Vulkan on the NVIDIA proprietary driver (550/570
/// series), Linux.
///
/// No H100 Vulkan report could be read for this file: the native values are those the
/// NVIDIA Vulkan driver reports on other recent GeForce/RTX parts (the driver sets them, not
/// the chip), cross-checked against what CUDA reports for H100 where both describe the same
/// hardware limit. Each field says which.
pub fn nvidia_h100_vulkan() -> AdapterProfile {
    AdapterProfile {
        name: "NVIDIA H100 (Vulkan)",
        backend: wgpu::Backend::Vulkan,
        // VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU -> DiscreteGpu (vulkan/adapter.rs, expose_adapter).
        device_type: wgpu::DeviceType::DiscreteGpu,
        limits: wgpu::Limits {
            // maxComputeSharedMemorySize. NVIDIA's Vulkan driver reports 49152 (48 KiB): seen
            // on RTX 3070 and RTX 4070 ("shared memory: 49152" in ggml_vulkan's device line,
            // ggml-org/llama.cpp#12833 and #14903) and on older NVIDIA parts
            // (doitsujin/dxvk#267). H100 itself: ESTIMATE, the same driver constant; CUDA's
            // static per-block limit on H100 is also 49152 (deviceQuery output for
            // "NVIDIA H100 80GB HBM3", thamada/nvidia-smi nvsim/H100SXMx8_deviceQuery.py).
            // Vulkan does not expose CUDA's opt-in 227 KiB. Copied as is by wgpu-hal.
            max_compute_workgroup_storage_size: 49152,
            // maxComputeWorkGroupInvocations 1024, maxComputeWorkGroupSize [1024, 1024, 64]:
            // CUDA reports the same for H100 (1024 threads per block, block (1024, 1024, 64),
            // same deviceQuery). The Vulkan values for H100 are an ESTIMATE from NVIDIA's
            // Vulkan reports on other Turing+ GPUs. adjust_raw_limits leaves them (each <=
            // 1024).
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 64,
            // min(maxComputeWorkGroupCount) = min(2147483647, 65535, 65535) = 65535. NVIDIA
            // Vulkan reports [2147483647, 65535, 65535] (doitsujin/dxvk#267); CUDA's grid
            // limit on H100 is the same (2147483647, 65535, 65535). Confirmed up to the
            // H100-specific Vulkan report.
            max_compute_workgroups_per_dimension: 65535,
            // maxStorageBufferRange = 0xffffffff on NVIDIA (GTX 1050 Ti, RTX 2080 vulkaninfo in
            // KhronosGroup/Vulkan-Tools#106 and #446); wgpu-hal caps it at i32::MAX
            // (auxil::MAX_I32_BINDING_SIZE), adjust_raw_limits rounds down to a multiple of 4:
            // 2147483644. Confirmed (it is wgpu's own cap; any NVIDIA range >= 2 GiB gives this).
            max_storage_buffer_binding_size: 2_147_483_644,
            // min(maintenance4 maxBufferSize, maintenance3 maxMemoryAllocationSize, 2^52) then
            // wgpu-core's u32::MAX cap. NVIDIA's maxBufferSize exceeds 4 GiB (NVIDIA lets
            // buffers pass maxMemoryAllocationSize, ggml-org/llama.cpp#16354); its
            // maxMemoryAllocationSize is about 4 GiB (GPUOpen-Drivers/xgl#40: "both nvidia
            // and amd" were 4G). ESTIMATE: 4292870144 (4 GiB - 2 MiB), the value recalled from
            // NVIDIA reports and not confirmed here; were it >= 4 GiB the result would be
            // 4294967295.
            max_buffer_size: 4_292_870_144,
            // min(maxPerStageDescriptorStorageBuffers 1048576, maxDescriptorSetStorageBuffers
            // 1048576 / 2) = 524288; the sum caps (maxPerStageResources 4294967295,
            // maxPerSetDescriptors) do not bite if maxPerSetDescriptors is 4294967295.
            // maxPerStageDescriptorStorageBuffers 1048576 is in NVIDIA reports
            // (Vulkan-Tools#106; ValveSoftware/steam-for-linux#11885, which also shows
            // maxPerStageResources 4294967295); maxDescriptorSetStorageBuffers 1048576 and
            // maxPerSetDescriptors 4294967295 are an ESTIMATE (with maxPerSetDescriptors
            // 1024 the per-set cap would bring this down to 124).
            max_storage_buffers_per_shader_stage: 524288,
            // maxUniformBufferRange = 65536 on NVIDIA (0x10000 in Vulkan-Tools#106 and #446).
            max_uniform_buffer_binding_size: 65536,
            // minUniformBufferOffsetAlignment: ESTIMATE 64 (NVIDIA's usual 0x40, not confirmed
            // here); wgpu raises it to at least 32.
            min_uniform_buffer_offset_alignment: 64,
            // minStorageBufferOffsetAlignment: NVIDIA reports 16 (ESTIMATE); adjust_raw_limits
            // raises it to 32, so 32 holds for any native value <= 32.
            min_storage_buffer_offset_alignment: 32,
            ..wgpu::Limits::default()
        },
        // Vulkan 1.3 driver with all the required subgroup operations in compute and
        // fragment: SUBGROUP exposed. ESTIMATE: no H100 feature report was read.
        subgroups: true,
        // min/maxSubgroupSize = 32/32 (warp size 32; wgpu-types' AdapterInfo docs list
        // "NVIDIA: 32" for both; CUDA warpSize 32 on H100 in the same deviceQuery).
        subgroup_min_size: 32,
        subgroup_max_size: 32,
    }
}

/// Apple M2 (Apple8 / Metal 3 family; M3 reads the same) through Metal on macOS, with 8 GB
/// or more of unified memory.
///
/// Metal has few queryable limits; wgpu-hal's `metal/adapter.rs` hard-codes most of these
/// from Apple's Metal feature set tables, so they follow from the code.
pub fn apple_m2_metal() -> AdapterProfile {
    AdapterProfile {
        name: "Apple M2 (Metal)",
        backend: wgpu::Backend::Metal,
        // PrivateCapabilities::device_type: hasUnifiedMemory -> IntegratedGpu.
        device_type: wgpu::DeviceType::IntegratedGpu,
        limits: wgpu::Limits {
            // max_total_threadgroup_memory = 32 KiB on macOS_GPUFamily1_v1 and later
            // (metal/adapter.rs); Apple's feature set tables: 32 KB threadgroup memory on
            // every Apple-silicon family. Confirmed.
            max_compute_workgroup_storage_size: 32768,
            // max_threads_per_group = 1024 (metal/adapter.rs; Apple tables: 1024 threads per
            // threadgroup), used for the invocation limit and each of x, y, z. Confirmed.
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            // Hard-coded 0xFFFF in metal/adapter.rs ("No documented limit"). Confirmed.
            max_compute_workgroups_per_dimension: 65535,
            // wgpu-hal sets it to maxBufferLength, which scales with RAM: 4 GiB on an 8 GB Mac
            // mini (ggml-org/llama.cpp#1706), 36 GiB on a 64 GB M1 Max (gfx-rs/wgpu#2502),
            // 72 GiB on an M3 Max (gfx-rs/wgpu#6221). wgpu-core then caps it at
            // u32::MAX & !3 (gfx-rs/wgpu#10306 describes the same path). Confirmed for any
            // M-series Mac with >= 8 GB.
            max_storage_buffer_binding_size: 4_294_967_292,
            // maxBufferLength (>= 4 GiB as above) capped by wgpu-core at u32::MAX. Confirmed
            // for >= 8 GB machines.
            max_buffer_size: 4_294_967_295,
            // MAX_BUFFERS (31) minus 2 internal buffers (immediates, buffer sizes) = 29,
            // metal/adapter.rs, unless WGPU_STRICT_WEBGPU_COMPLIANCE (then 9). Confirmed.
            max_storage_buffers_per_shader_stage: 29,
            // Same as the storage binding size before rounding: maxBufferLength, capped at
            // u32::MAX by wgpu-core. Confirmed.
            max_uniform_buffer_binding_size: 4_294_967_295,
            // constant_buffer_offset_alignment = 256 on macOS (metal/adapter.rs). Confirmed.
            min_uniform_buffer_offset_alignment: 256,
            // Hard-coded 32 ("No documented limit"). Confirmed.
            min_storage_buffer_offset_alignment: 32,
            ..wgpu::Limits::default()
        },
        // supports_simd_scoped_operations = Metal 3, Mac2 or Apple7+ family: true on every
        // M-series chip -> SUBGROUP (and SUBGROUP_BARRIER). Confirmed.
        subgroups: true,
        // Hard-coded 4 and 64 in metal/mod.rs (AdapterShared::expose), "typical values for Metal
        // devices", not the hardware SIMD width (32 on Apple GPUs). Confirmed.
        subgroup_min_size: 4,
        subgroup_max_size: 64,
    }
}

/// AMD Radeon RX 7900 XTX (RDNA3, Navi 31, GFX11) through Vulkan on Mesa's RADV, Linux.
///
/// Native values read in RADV's source (mesa `src/amd/vulkan/radv_physical_device.c` and
/// `radv_constants.h`, mirror/mesa), so they hold for any RDNA3 part on a recent Mesa.
pub fn amd_rx7900xtx_radv() -> AdapterProfile {
    AdapterProfile {
        name: "AMD Radeon RX 7900 XTX (Vulkan, RADV)",
        backend: wgpu::Backend::Vulkan,
        // RADV: has_dedicated_vram -> VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU.
        device_type: wgpu::DeviceType::DiscreteGpu,
        limits: wgpu::Limits {
            // maxComputeSharedMemorySize = pdev->max_shared_size = 65536 on GFX7+ (RADV;
            // Radeon 8060S "shared memory: 65536" in ggml-org/llama.cpp#21344). Confirmed.
            max_compute_workgroup_storage_size: 65536,
            // maxComputeWorkGroupInvocations 1024, maxComputeWorkGroupSize {1024, 1024, 1024}
            // (RADV). Confirmed.
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            // maxComputeWorkGroupCount {65535, 65535, 65535} (RADV). Confirmed.
            max_compute_workgroups_per_dimension: 65535,
            // maxStorageBufferRange = UINT32_MAX (RADV) -> min(i32::MAX) = 2147483647 ->
            // min(max_buffer_size) -> round down to 4: 2147483644. Confirmed.
            max_storage_buffer_binding_size: 2_147_483_644,
            // maxBufferSize = maxMemoryAllocationSize = RADV_MAX_MEMORY_ALLOCATION_SIZE =
            // 0xFFFFFFFC (RADV; 4294967292 printed for RADV in ggml-org/llama.cpp#5441), then
            // wgpu-hal's Linux non-NVIDIA cap i32::MAX. Confirmed.
            max_buffer_size: 2_147_483_647,
            // maxPerStageDescriptorStorageBuffers = maxDescriptorSetStorageBuffers =
            // maxPerStageResources = radv_max_descriptor_set_size() = 8388606,
            // maxPerSetDescriptors = RADV_MAX_PER_SET_DESCRIPTORS = 2^31 / 96 = 22369621.
            // wgpu: min(8388606, 8388606 / 2) = 4194303; shared under maxPerStageResources
            // with four other limits -> 2097150; shared under 22369621 / 2 with samplers and
            // acceleration structures -> 1864135. Confirmed by recomputing wgpu-hal's caps, assuming RADV exposes
            // VK_KHR_acceleration_structure on RDNA3 (recent Mesa; without it, 2097150).
            max_storage_buffers_per_shader_stage: 1_864_135,
            // maxUniformBufferRange = UINT32_MAX -> min(i32::MAX) = 2147483647. Confirmed.
            max_uniform_buffer_binding_size: 2_147_483_647,
            // minUniformBufferOffsetAlignment = max(drirc override, 4) = 4,
            // minStorageBufferOffsetAlignment = 4 (RADV); wgpu raises both to 32. Confirmed.
            min_uniform_buffer_offset_alignment: 32,
            min_storage_buffer_offset_alignment: 32,
            ..wgpu::Limits::default()
        },
        // RADV: Vulkan 1.3, subgroupSupportedStages include compute and all graphics stages,
        // operations basic | vote | arithmetic | ballot | clustered | quad | shuffle |
        // shuffle_relative | rotate -> SUBGROUP. Confirmed.
        subgroups: true,
        // RADV: minSubgroupSize = 32 on GFX10+ (wave32), maxSubgroupSize = 64. Confirmed.
        subgroup_min_size: 32,
        subgroup_max_size: 64,
    }
}

/// Intel UHD Graphics 770 (Xe-LP, Gen12, Alder Lake-S integrated) through DX12 on Windows,
/// with `dxcompiler.dll` found (wgpu's default `Dx12Compiler::Auto`).
///
/// Modelled as IntegratedGpu: DX12 reports `D3D12_FEATURE_DATA_ARCHITECTURE::UMA` for Intel
/// integrated graphics, which wgpu maps to IntegratedGpu. Most DX12 limits are fixed
/// constants in wgpu-hal (`dx12/adapter.rs`), not queried, so they hold for an Arc A770 too;
/// the subgroup sizes and binding tier are the device-specific parts.
pub fn intel_xe_lp_dx12() -> AdapterProfile {
    AdapterProfile {
        name: "Intel UHD Graphics 770 (DX12)",
        backend: wgpu::Backend::Dx12,
        device_type: wgpu::DeviceType::IntegratedGpu,
        limits: wgpu::Limits {
            // Hard-coded 32768 in dx12/adapter.rs (D3D11.3 functional spec "Inter-Thread Data
            // Sharing": 32 KB groupshared). Confirmed.
            max_compute_workgroup_storage_size: 32768,
            // D3D12_CS_THREAD_GROUP_MAX_THREADS_PER_GROUP 1024, D3D12_CS_THREAD_GROUP_MAX_X/Y/Z
            // 1024/1024/64 (dx12/adapter.rs). Confirmed.
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 64,
            // D3D12_CS_DISPATCH_MAX_THREAD_GROUPS_PER_DIMENSION = 65535. Confirmed.
            max_compute_workgroups_per_dimension: 65535,
            // auxil::MAX_I32_BINDING_SIZE (2^31 - 1), min(max_buffer_size), rounded down to
            // 4: 2147483644. Confirmed.
            max_storage_buffer_binding_size: 2_147_483_644,
            // Hard-coded i32::MAX ("Dx12 does not expose a maximum buffer size"). Confirmed.
            max_buffer_size: 2_147_483_647,
            // Resource binding tier 3: full heap 2^20 UAVs, halved per stage (2 stages) and
            // halved again between storage textures and buffers: 262144. The SRV sum cap does
            // not bite. Tier 3 on Xe-LP is an ESTIMATE (not read from a device); tier 2
            // would give 64 / 2 / 2 = 16.
            max_storage_buffers_per_shader_stage: 262144,
            // D3D12_REQ_CONSTANT_BUFFER_ELEMENT_COUNT * 16 = 65536. Confirmed.
            max_uniform_buffer_binding_size: 65536,
            // D3D12_CONSTANT_BUFFER_DATA_PLACEMENT_ALIGNMENT = 256. Confirmed.
            min_uniform_buffer_offset_alignment: 256,
            // D3D12_RAW_UAV_SRV_BYTE_ALIGNMENT = 16, raised to 32 by adjust_raw_limits.
            // Confirmed.
            min_storage_buffer_offset_alignment: 32,
            ..wgpu::Limits::default()
        },
        // SUBGROUP = shader model >= 6.0 && OPTIONS1.WaveOps. Xe-LP has wave ops (SM 6.6).
        // Needs DXC: without dxcompiler.dll wgpu falls back to FXC, shader model 5.1, and
        // SUBGROUP is false (dx12/instance.rs, Dx12Compiler::Auto). Confirmed with DXC.
        subgroups: true,
        // OPTIONS1.WaveLaneCountMin: 16 on UHD 770 (gpuweb/cts#4035: "the D3D12 API report
        // WaveLaneCountMin == 16" on Intel UHD770). Confirmed.
        subgroup_min_size: 16,
        // OPTIONS1.WaveLaneCountMax: ESTIMATE 32 (Xe EUs run SIMD8/16/32; wgpu-types lists
        // "Intel: 16 or 32" as the typical maximum). Not confirmed for this device.
        subgroup_max_size: 32,
    }
}

/// lavapipe (llvmpipe's Vulkan driver), Mesa 22.3.6 with LLVM 15.0.6, 256-bit vectors, on
/// the Vulkan backend: a CPU adapter.
///
/// Every value here was read on the development machine through wgpu 30.0.1
/// (`Adapter::limits`, `Adapter::get_info`, `Adapter::features`) with a scratch program
/// enumerating adapters, so all of them are confirmed for that machine.
pub fn lavapipe() -> AdapterProfile {
    AdapterProfile {
        name: "lavapipe (Vulkan, CPU)",
        backend: wgpu::Backend::Vulkan,
        device_type: wgpu::DeviceType::Cpu,
        limits: wgpu::Limits {
            max_compute_workgroup_storage_size: 32768,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            max_compute_workgroups_per_dimension: 65535,
            max_storage_buffer_binding_size: 134_217_728,
            max_buffer_size: 2_147_483_647,
            max_storage_buffers_per_shader_stage: 32,
            max_uniform_buffer_binding_size: 65536,
            min_uniform_buffer_offset_alignment: 32,
            min_storage_buffer_offset_alignment: 32,
            // Also measured, and different from the defaults.
            max_bind_groups: 8,
            max_bindings_per_bind_group: 1024,
            max_dynamic_storage_buffers_per_pipeline_layout: 32,
            max_dynamic_uniform_buffers_per_pipeline_layout: 15,
            max_uniform_buffers_per_shader_stage: 15,
            max_immediate_size: 128,
            ..wgpu::Limits::default()
        },
        subgroups: true,
        subgroup_min_size: 8,
        subgroup_max_size: 8,
    }
}

/// What each profile's adapter reports in `AdapterInfo` besides the fields of
/// [`AdapterProfile`].
const NATIVE: &[NativeInfo] = &[
    // VkPhysicalDeviceProperties::deviceName of the PCIe card (PCI 10de:2331 "NVIDIA
    // H100 PCIe"); driverName "NVIDIA" (ESTIMATE); driverInfo is the driver version (an
    // example 570-series version, not read from a device).
    NativeInfo {
        profile: "NVIDIA H100 (Vulkan)",
        name: "NVIDIA H100 PCIe",
        driver: "NVIDIA",
        driver_info: "570.124.06",
        vendor: 0x10de,
    },
    // MTLDevice.name; the Metal backend leaves driver, driver_info and vendor empty.
    NativeInfo {
        profile: "Apple M2 (Metal)",
        name: "Apple M2",
        driver: "",
        driver_info: "",
        vendor: 0,
    },
    // deviceName is the marketing name plus " (RADV NAVI31)" (ESTIMATE of the exact
    // string); driverName "radv" (RADV); driverInfo "Mesa <version>" (ESTIMATE).
    // ATI_VENDOR_ID (radv_constants.h).
    NativeInfo {
        profile: "AMD Radeon RX 7900 XTX (Vulkan, RADV)",
        name: "AMD Radeon RX 7900 XTX (RADV NAVI31)",
        driver: "radv",
        driver_info: "Mesa 24.2.8",
        vendor: 0x1002,
    },
    // DXGI_ADAPTER_DESC1::Description; `driver` is the UMD version string
    // (ESTIMATE of the exact version), driver_info empty on DX12.
    NativeInfo {
        profile: "Intel UHD Graphics 770 (DX12)",
        name: "Intel(R) UHD Graphics 770",
        driver: "31.0.101.5186",
        driver_info: "",
        vendor: 0x8086,
    },
    // Read on the development machine through wgpu 30.0.1 (`Adapter::get_info`).
    NativeInfo {
        profile: "lavapipe (Vulkan, CPU)",
        name: "llvmpipe (LLVM 15.0.6, 256 bits)",
        driver: "llvmpipe",
        driver_info: "Mesa 22.3.6 (LLVM 15.0.6)",
        vendor: 0x10005,
    },
];
