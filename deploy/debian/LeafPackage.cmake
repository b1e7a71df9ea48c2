# Debian packages from the normal build (CPack DEB; scripts/package.sh):
#   leaf             leaf-host, the plugins, conf.d (conffiles), systemd unit, dashboard
#   leaf-dev         the SDK: headers, BPF headers, CMake package LeafSDK
#   leaf-mock-kafka  the test broker (librdkafka's mock cluster)
# Run-time dependencies come from dpkg-shlibdeps; only leaf-dev, which ships
# headers, names its dependencies itself.
set(deb_dir "${CMAKE_CURRENT_LIST_DIR}")
set(deb_out "${CMAKE_BINARY_DIR}/deploy/debian")

# Every package carries /usr/share/doc/<package>/{copyright,changelog.gz}.
configure_file("${deb_dir}/changelog.in" "${deb_out}/changelog" @ONLY)
execute_process(COMMAND gzip -9nc "${deb_out}/changelog" OUTPUT_FILE "${deb_out}/changelog.gz"
                RESULT_VARIABLE gz_rc)
if(NOT gz_rc EQUAL 0)
  message(FATAL_ERROR "gzip of the Debian changelog failed")
endif()
foreach(pair "leaf;leaf" "dev;leaf-dev" "mock_kafka;leaf-mock-kafka")
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES "${deb_dir}/copyright" "${deb_out}/changelog.gz"
          DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}" COMPONENT ${component})
endforeach()

# conffiles: every shipped configuration file (dpkg keeps local changes).
set(conffiles "")
foreach(f IN LISTS LEAF_SHIPPED_CONFIG)
  get_filename_component(name "${f}" NAME)
  string(APPEND conffiles "${LEAF_INSTALL_FULL_CONFDIR}/${name}\n")
endforeach()
file(WRITE "${deb_out}/conffiles" "${conffiles}")
foreach(script postinst prerm postrm)
  configure_file("${deb_dir}/${script}" "${deb_out}/${script}" COPYONLY)
endforeach()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "leaf")
set(CPACK_PACKAGE_VENDOR "Leaf")
set(CPACK_PACKAGE_CONTACT "Leaf developers <leaf-dev@leaf-project.org>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Each package's description below starts with its own synopsis line. CPack
# prepends CPACK_PACKAGE_DESCRIPTION_SUMMARY (the project's description) to
# it unless the summary is CPack's default: so the default it is.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
# cpack installs what the build made; it does not build everything first
# (scripts/package.sh builds the targets the packages hold).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/packages")
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL leaf dev mock_kafka)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://leaf-project.org/")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_LEAF_PACKAGE_NAME "leaf")
set(CPACK_DEBIAN_LEAF_PACKAGE_SECTION "admin")
set(CPACK_COMPONENT_LEAF_DESCRIPTION "eBPF system probe streaming to Kafka
Leaf watches the kernel with eBPF (TCP connections, process exec/fork/exit,
scheduler and interrupt activity) and streams each event as JSON to stdout
or Kafka. This package holds the daemon leaf-host, its plugins, the shipped
configuration in /etc/leaf/conf.d, the systemd unit and a Grafana dashboard.")
set(CPACK_DEBIAN_LEAF_PACKAGE_CONTROL_EXTRA
    "${deb_out}/conffiles;${deb_out}/postinst;${deb_out}/prerm;${deb_out}/postrm")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME "leaf-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libbpf-dev, libboost-dev, libtomlplusplus-dev, cmake, pkg-config, clang, bpftool")
set(CPACK_COMPONENT_DEV_DESCRIPTION "SDK for Leaf plugins
Headers of the Leaf plugin ABI, the BPF-side helper headers and the CMake
package LeafSDK (find_package(LeafSDK); leaf_add_plugin) for building probe,
processor and sink plugins out of tree, and the test host library
(leaf::sdk_testing) that runs one plugin inside a unit test.")

set(CPACK_DEBIAN_MOCK_KAFKA_PACKAGE_NAME "leaf-mock-kafka")
set(CPACK_DEBIAN_MOCK_KAFKA_PACKAGE_SECTION "devel")
set(CPACK_COMPONENT_MOCK_KAFKA_DESCRIPTION "Kafka-protocol test broker for Leaf
leaf-mock-kafka runs librdkafka's mock cluster on loopback and prints its
bootstrap address: a broker for trying and testing Leaf's Kafka sink without
a Kafka installation. Not for production use.")

include(CPack)
