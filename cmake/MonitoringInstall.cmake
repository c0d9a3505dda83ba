include(CMakePackageConfigHelpers)

install(TARGETS monitoring EXPORT monitoringTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/monitoring DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(MONITORING_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/monitoring)
install(EXPORT monitoringTargets NAMESPACE monitoring:: DESTINATION ${MONITORING_CMAKE_DIR})
configure_package_config_file(cmake/monitoringConfig.cmake.in
  ${PROJECT_BINARY_DIR}/monitoringConfig.cmake INSTALL_DESTINATION ${MONITORING_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/monitoringConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/monitoringConfig.cmake
  ${PROJECT_BINARY_DIR}/monitoringConfigVersion.cmake
  cmake/MonitoringDependencies.cmake DESTINATION ${MONITORING_CMAKE_DIR})

# The .pc file finds the prefix relative to itself: "../.." for lib/pkgconfig.
file(RELATIVE_PATH MONITORING_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/monitoring.pc.in ${PROJECT_BINARY_DIR}/monitoring.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/monitoring.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
