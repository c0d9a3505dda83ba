include(CMakePackageConfigHelpers)

install(TARGETS ${MONITORING_COMPONENT_TARGETS} EXPORT monitoringTargets
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
