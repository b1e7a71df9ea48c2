# leaf_add_plugin(<name> SOURCES src... [BPF prog.bpf.c...] [LIBS lib...])
#
# Builds leaf_<name>.so, a Leaf plugin module: hidden visibility (only the
# entry point is exported), no unique symbols (so it can unload), each BPF
# program compiled and its skeleton linked in, so the .so carries its own
# BPF object. With BPF programs it links leaf::sdk_bpf (libbpf), without
# only leaf::sdk: a sink or processor does not depend on libbpf. The module
# lands in LEAF_PLUGIN_OUTPUT_DIR when set, and is installed (component leaf)
# into LEAF_PLUGIN_INSTALL_DIR when set.
include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/LeafBpf.cmake")

function(leaf_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;BPF;LIBS" ${ARGN})
  set(target leaf_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "leaf_${name}"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(LEAF_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${LEAF_PLUGIN_OUTPUT_DIR}")
  endif()
  if(LEAF_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${LEAF_PLUGIN_INSTALL_DIR}" COMPONENT leaf)
  endif()
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  foreach(bpf_src IN LISTS ARG_BPF)
    get_filename_component(stem "${bpf_src}" NAME)
    string(REGEX REPLACE "\\.bpf\\.c$" "" stem "${stem}")
    leaf_bpf_object(${target}_${stem}_skel "${bpf_src}")
    target_link_libraries(${target} PRIVATE ${target}_${stem}_skel)
  endforeach()
  if(ARG_BPF)
    if(NOT TARGET leaf::sdk_bpf)
      message(FATAL_ERROR "leaf_add_plugin(${name}): BPF programs need libbpf (pkg-config libbpf)")
    endif()
    target_link_libraries(${target} PRIVATE leaf::sdk_bpf)
  endif()
  target_link_libraries(${target} PRIVATE leaf::sdk ${ARG_LIBS})
endfunction()
