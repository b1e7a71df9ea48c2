# leaf_bpf_object(<target> <file.bpf.c> [INCLUDES dir...])
#
# Compiles a BPF program with clang for the BPF target against a vmlinux.h
# generated from this machine's kernel BTF, links it with bpftool (which
# strips DWARF and keeps BTF), and generates its libbpf skeleton
# <stem>.skel.h. Everything is written under the build directory; <target>
# is an INTERFACE library whose include directory holds the skeleton.
#
# Cache variables:
#   LEAF_VMLINUX_H    a vmlinux.h to use instead of generating one
#   LEAF_BTF_SOURCE   kernel BTF to generate it from (/sys/kernel/btf/vmlinux)
#   LEAF_BPF_CLANG    the clang to use
#   LEAF_BPF_TARGET_ARCH  __TARGET_ARCH_<arch> for bpf_tracing.h (x86, arm64...);
#                     taken from CMAKE_SYSTEM_PROCESSOR when empty
include_guard(GLOBAL)

find_program(LEAF_BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(LEAF_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(LEAF_BTF_SOURCE "/sys/kernel/btf/vmlinux" CACHE FILEPATH "Kernel BTF for vmlinux.h")
set(LEAF_VMLINUX_H "" CACHE FILEPATH "vmlinux.h to use (generated from LEAF_BTF_SOURCE when empty)")

# The architecture bpf_tracing.h reads registers for: the one being built for.
set(LEAF_BPF_TARGET_ARCH "" CACHE STRING "__TARGET_ARCH_<arch> (empty: from CMAKE_SYSTEM_PROCESSOR)")
if(NOT LEAF_BPF_TARGET_ARCH)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _leaf_cpu)
  if(_leaf_cpu MATCHES "^(x86_64|amd64|i.86)$")
    set(LEAF_BPF_TARGET_ARCH x86)
  elseif(_leaf_cpu MATCHES "^(aarch64|arm64)$")
    set(LEAF_BPF_TARGET_ARCH arm64)
  elseif(_leaf_cpu MATCHES "^arm")
    set(LEAF_BPF_TARGET_ARCH arm)
  elseif(_leaf_cpu MATCHES "^s390")
    set(LEAF_BPF_TARGET_ARCH s390)
  elseif(_leaf_cpu MATCHES "^(ppc|powerpc)")
    set(LEAF_BPF_TARGET_ARCH powerpc)
  elseif(_leaf_cpu MATCHES "^riscv")
    set(LEAF_BPF_TARGET_ARCH riscv)
  elseif(_leaf_cpu MATCHES "^loongarch")
    set(LEAF_BPF_TARGET_ARCH loongarch)
  else()
    message(FATAL_ERROR "BPF: no __TARGET_ARCH for processor '${CMAKE_SYSTEM_PROCESSOR}': "
                        "set LEAF_BPF_TARGET_ARCH")
  endif()
endif()

# vmlinux.h is generated once, at configure time, into the build directory.
function(_leaf_vmlinux_dir out)
  if(LEAF_VMLINUX_H)
    get_filename_component(dir "${LEAF_VMLINUX_H}" DIRECTORY)
    set(${out} "${dir}" PARENT_SCOPE)
    return()
  endif()
  set(dir "${CMAKE_BINARY_DIR}/generated/vmlinux")
  if(NOT EXISTS "${dir}/vmlinux.h")
    if(NOT EXISTS "${LEAF_BTF_SOURCE}")
      message(FATAL_ERROR "No kernel BTF at ${LEAF_BTF_SOURCE}: set LEAF_VMLINUX_H or LEAF_BTF_SOURCE")
    endif()
    file(MAKE_DIRECTORY "${dir}")
    execute_process(
      COMMAND ${LEAF_BPFTOOL} btf dump file "${LEAF_BTF_SOURCE}" format c
      OUTPUT_FILE "${dir}/vmlinux.h.tmp"
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "bpftool btf dump of ${LEAF_BTF_SOURCE} failed (${rc})")
    endif()
    file(RENAME "${dir}/vmlinux.h.tmp" "${dir}/vmlinux.h")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

function(leaf_bpf_object target source)
  cmake_parse_arguments(ARG "" "" "INCLUDES" ${ARGN})
  get_filename_component(src "${source}" ABSOLUTE)
  get_filename_component(src_dir "${src}" DIRECTORY)
  get_filename_component(stem "${src}" NAME)
  string(REGEX REPLACE "\\.bpf\\.c$" "" stem "${stem}")
  _leaf_vmlinux_dir(vmlinux_dir)

  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  set(obj_raw "${out_dir}/${stem}.tmp.bpf.o")
  set(obj "${out_dir}/${stem}.bpf.o")
  set(skel "${out_dir}/${stem}.skel.h")
  set(incs -I${vmlinux_dir} -I${src_dir})
  foreach(dir IN LISTS LEAF_BPF_INCLUDE_DIRS ARG_INCLUDES)
    list(APPEND incs -I${dir})
  endforeach()

  add_custom_command(
    OUTPUT "${obj_raw}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${LEAF_BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${LEAF_BPF_TARGET_ARCH} -Wall -Wno-unused-function
            ${incs} -MD -MF "${obj_raw}.d" -c "${src}" -o "${obj_raw}"
    DEPENDS "${src}"
    DEPFILE "${obj_raw}.d"
    COMMENT "BPF ${stem}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT "${obj}" "${skel}"
    COMMAND ${LEAF_BPFTOOL} gen object "${obj}" "${obj_raw}"
    COMMAND ${LEAF_BPFTOOL} gen skeleton "${obj}" name "${stem}_bpf" > "${skel}.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${skel}.tmp" "${skel}"
    DEPENDS "${obj_raw}"
    COMMENT "BPF skeleton ${stem}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS "${skel}")
  add_library(${target} INTERFACE)
  target_include_directories(${target} INTERFACE "${out_dir}")
  add_dependencies(${target} ${target}_gen)
endfunction()
