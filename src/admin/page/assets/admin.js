console.log('admin')
